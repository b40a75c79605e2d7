/**
 * GRPO pieces against the PyTorch float64 reference (tests/fixtures/grpo/grpo_golden.json):
 * advantages, completion masks, token log-probs/entropies and all 192 loss cases (value,
 * gradient with respect to the log-probs, metrics), on every backend that loads.
 * Every backend this runtime has (tests/helpers/backends.ts; TINA_BACKENDS=a,b narrows it).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { valueAndGradWithAux } from "../../lib/autodiff/grad.ts";
import { add, mul, sum } from "../../lib/autodiff/ops.ts";
import { liveTensors, type Tensor, tensor, toArray } from "../../lib/autodiff/tensor.ts";
import { type Backend, loadBackend } from "../../lib/tensor/backends.ts";
import { testBackends } from "../helpers/backends.ts";
import { disposeReplaced } from "../../lib/optim/mod.ts";
import {
  completionMask,
  computeAdvantages,
  grpoLoss,
  type LossType,
  maskTruncated,
  type ScaleRewards,
  tokenLogProbsAndEntropy,
} from "../../lib/rl/mod.ts";

type Matrix = number[][];
interface Case {
  config: {
    loss_type: LossType;
    beta: number;
    epsilon_low: number;
    epsilon_high: number;
    scale_rewards: ScaleRewards;
    num_iterations: number;
    delta: number | null;
    max_completion_length: number;
  };
  loss: number;
  grad_logp: Matrix;
  metrics: {
    clip_ratio_low: number;
    clip_ratio_high: number;
    clip_ratio_region: number;
    kl?: number;
  };
}
interface Golden {
  G: number;
  eos_id: number;
  completion_ids: Matrix;
  completion_mask: Matrix;
  rewards: number[];
  logp: Matrix;
  old_logp: Matrix;
  ref_logp: Matrix;
  advantages: Record<ScaleRewards, number[]>;
  logprob_from_logits: {
    temperature: number;
    logits: number[][][];
    ids: Matrix;
    mask: Matrix;
    logp: Matrix;
    entropy: Matrix;
    probe_value: number;
    grad_logits_of_probe: number[][][];
  };
  cases: Case[];
}

const golden: Golden = JSON.parse(
  await readFile(
    fileURLToPath(new URL("../fixtures/grpo/grpo_golden.json", import.meta.url)),
    "utf8",
  ),
);

const TOL = 1e-5;
const flat = (
  x: unknown,
): number[] => (Array.isArray(x) ? x.flat(Infinity) as number[] : [x as number]);
const assertClose = (actual: ArrayLike<number>, expected: unknown, what: string): void => {
  const want = flat(expected);
  assert.is(actual.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(actual[i] - want[i]);
    if (!(err <= TOL * Math.max(1, Math.abs(want[i])))) {
      assert.unreachable(
        `${what}[${i}]: got ${actual[i]}, expected ${want[i]} (error ${err.toExponential(2)})`,
      );
    }
  }
};
const read = async (t: Tensor): Promise<number[]> => Array.from(await toArray(t));

const backends: Backend[] = await Promise.all(
  (await testBackends()).map((name) => loadBackend(name)),
);

test("completion mask keeps tokens up to and including the first EOS", () => {
  const m = completionMask(golden.completion_ids, golden.eos_id);
  assert.equal(Array.from(m.mask), flat(golden.completion_mask));
  assert.equal(Array.from(m.lengths), [6, 3, 6, 6, 1, 6, 6, 6]);
  assert.equal(m.truncated, [true, false, true, true, false, true, false, true]);
  const kept = maskTruncated(m);
  assert.equal(Array.from(kept.mask.slice(6, 12)), [1, 1, 1, 0, 0, 0]);
  assert.is(kept.mask.reduce((s, x) => s + x, 0), 3 + 1 + 6);
  assert.equal(
    Array.from(completionMask([[5, 7, 9]], [9, 7]).mask),
    [1, 1, 0],
    "any of several EOS ids stops",
  );
});

test("advantages match for group, batch and no scaling", () => {
  (["group", "batch", "none"] as const).forEach((scale) => {
    const { advantages } = computeAdvantages(golden.rewards, golden.G, scale);
    assertClose(advantages, golden.advantages[scale], `advantages.${scale}`);
  });
  const { metrics } = computeAdvantages(golden.rewards, golden.G, "group");
  assert.ok(Math.abs(metrics.reward - 0.625) < 1e-12);
  assert.is(metrics.frac_reward_zero_std, 0.5, "the second group has equal rewards");
  assert.throws(() => computeAdvantages([1, 2, 3], 2, "group"), /groups of 2/);
});

for (const backend of backends) {
  const b = backend.name;
  const matrix = (m: Matrix) => tensor(backend, m.flat(), [m.length, m[0].length]);

  test(`${b}: log-probs, entropies and the probe's gradient from logits`, async () => {
    const live = liveTensors();
    const g = golden.logprob_from_logits;
    const shape = [g.logits.length, g.logits[0].length, g.logits[0][0].length];
    const logits = tensor(backend, g.logits.flat(2), shape);
    const ids = tensor(backend, Int32Array.from(g.ids.flat()), [shape[0], shape[1]]);
    const mask = matrix(g.mask);
    const { value, grads, aux } = valueAndGradWithAux((p: { logits: Tensor }) => {
      const { logp, entropy } = tokenLogProbsAndEntropy(p.logits, ids, g.temperature);
      return {
        loss: add(sum(mul(logp, mask)), mul(sum(mul(entropy, mask)), 0.1)),
        aux: { logp, entropy },
      };
    })({ logits });
    assertClose(await read(aux.logp), g.logp, "logp");
    assertClose(await read(aux.entropy), g.entropy, "entropy");
    assertClose(await read(value), g.probe_value, "probe");
    assertClose(await read(grads.logits), g.grad_logits_of_probe, "d probe / d logits");
    disposeReplaced([logits, ids, mask, value, grads, aux], null);
    assert.is(liveTensors(), live, "every tensor freed");
  });

  test(`${b}: all ${golden.cases.length} GRPO loss cases (loss, gradient, metrics)`, async () => {
    const live = liveTensors();
    const { mask: maskData, shape } = completionMask(golden.completion_ids, golden.eos_id);
    const mask = tensor(backend, maskData, shape);
    const [logp, oldLogp, refLogp] = [golden.logp, golden.old_logp, golden.ref_logp].map(matrix);
    for (const [i, c] of golden.cases.entries()) {
      const cfg = c.config;
      const name = `case ${i} ${JSON.stringify(cfg)}`;
      const adv = computeAdvantages(golden.rewards, golden.G, cfg.scale_rewards).advantages;
      const advantages = tensor(backend, adv, [adv.length]);
      const config = {
        lossType: cfg.loss_type,
        beta: cfg.beta,
        epsilonLow: cfg.epsilon_low,
        epsilonHigh: cfg.epsilon_high,
        delta: cfg.delta,
        maxCompletionLength: cfg.max_completion_length,
      };
      const { value, grads, aux } = valueAndGradWithAux((p: { logp: Tensor }) => {
        const r = grpoLoss({
          logp: p.logp,
          oldLogp: cfg.num_iterations === 1 ? null : oldLogp,
          refLogp: cfg.beta === 0 ? null : refLogp,
          advantages,
          mask,
        }, config);
        return { loss: r.loss, aux: r.metrics };
      })({ logp });
      assertClose(await read(value), c.loss, `${name} loss`);
      assertClose(await read(grads.logp), c.grad_logp, `${name} grad`);
      assertClose(
        await read(aux["clip_ratio/low_mean"]),
        c.metrics.clip_ratio_low,
        `${name} clip low`,
      );
      assertClose(
        await read(aux["clip_ratio/high_mean"]),
        c.metrics.clip_ratio_high,
        `${name} clip high`,
      );
      assertClose(
        await read(aux["clip_ratio/region_mean"]),
        c.metrics.clip_ratio_region,
        `${name} clip region`,
      );
      if (c.metrics.kl === undefined) {
        assert.is(aux.kl, null, `${name}: no kl metric when beta = 0`);
      } else assertClose(await read(aux.kl as Tensor), c.metrics.kl, `${name} kl`);
      disposeReplaced([advantages, value, grads, aux], null);
    }
    disposeReplaced([mask, logp, oldLogp, refLogp], null);
    assert.is(liveTensors(), live, "every tensor freed");
  });
}

test.run();
