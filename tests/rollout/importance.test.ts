/**
 * TRL's truncated importance sampling: the four modes against values worked by hand, bounds,
 * no gradient through the weights, no NaN on huge mismatches, and the mismatch metrics.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { valueAndGrad } from "../../lib/autodiff/grad.ts";
import { mul, sum } from "../../lib/autodiff/ops.ts";
import { tensor, toArray } from "../../lib/autodiff/tensor.ts";
import { loadBackend } from "../../lib/tensor/backends.ts";
import {
  type ImportanceSamplingConfig,
  importanceWeights,
  mismatchMetrics,
} from "../../lib/rl/importance.ts";

const backend = await loadBackend("ts");
// Two completions of three tokens; the second's last token is padding.
const learner = [-1.0, -2.0, -0.5, -0.2, -3.0, -9.0];
const engine = [-1.5, -1.0, -0.5, -0.2, -1.0, 0.0];
const mask = [1, 1, 1, 1, 1, 0];
const t = (xs: number[], shape: number[]) => tensor(backend, Float32Array.from(xs), shape);

const weights = async (cfg: ImportanceSamplingConfig) =>
  Array.from(
    await toArray(importanceWeights(t(learner, [2, 3]), t(engine, [2, 3]), t(mask, [2, 3]), cfg)),
  );

const close = (a: number[], b: number[], what: string) =>
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) < 1e-5, `${what}[${i}]: ${x} vs ${b[i]}`));

test("token_truncate: exp(learner - engine), capped above (and below when asked)", async () => {
  const r = [Math.exp(0.5), Math.exp(-1), 1, 1, Math.exp(-2), 1];
  close(await weights({ mode: "token_truncate", clipMin: null, clipMax: 1.5 }), [
    1.5,
    r[1],
    1,
    1,
    r[4],
    1,
  ], "cap");
  close(
    await weights({ mode: "token_truncate", clipMin: 0.5, clipMax: 3 }),
    [r[0], 0.5, 1, 1, 0.5, 1],
    "cap both",
  );
});

test("token_mask: ratios outside [clipMin, clipMax] become 0", async () => {
  close(
    await weights({ mode: "token_mask", clipMin: 0.2, clipMax: 1.5 }),
    [0, Math.exp(-1), 1, 1, 0, 1],
    "mask",
  );
});

test("sequence modes: one ratio per completion from the masked log-ratio sum", async () => {
  // Completion 1: 0.5 - 1 + 0 = -0.5; completion 2: 0 - 2 (the padding's -9 is masked) = -2.
  const seq = [Math.exp(-0.5), Math.exp(-2)];
  close(await weights({ mode: "sequence_truncate", clipMin: null, clipMax: 3 }), seq, "truncate");
  close(await weights({ mode: "sequence_mask", clipMin: 0.2, clipMax: 3 }), [seq[0], 0], "mask");
});

test("no gradient flows through the weights; a huge mismatch gives 0, never NaN", async () => {
  const e = t(engine, [2, 3]), m = t(mask, [2, 3]);
  const cfg: ImportanceSamplingConfig = { mode: "token_mask", clipMin: null, clipMax: 3 };
  const { grads } = valueAndGrad((lp: ReturnType<typeof t>) =>
    sum(mul(importanceWeights(lp, e, m, cfg), lp))
  )(
    t(learner, [2, 3]),
  );
  const w = await weights(cfg);
  close(Array.from(await toArray(grads)), w, "d/dlp Σ w·lp = w (w is a constant)");
  const huge = await toArray(
    importanceWeights(t([1000, 0, 0, 0, 0, 0], [2, 3]), t([-1000, 0, 0, 0, 0, 0], [2, 3]), m, {
      mode: "sequence_mask",
      clipMin: null,
      clipMax: 3,
    }),
  );
  assert.equal(Array.from(huge), [0, 1]);
});

test("mismatch metrics: mean/max |Δ log p| and applied ratio min/mean/max over completion tokens", () => {
  const tokenWeights = Float32Array.from([1.5, 0.25, 1, 1, 0.5, 99]);
  const m = mismatchMetrics(
    Float32Array.from(learner),
    Float32Array.from(engine),
    Float32Array.from(mask),
    tokenWeights,
  );
  assert.ok(Math.abs(m["sampling/sampling_logp_difference/mean"] - 3.5 / 5) < 1e-6);
  assert.is(m["sampling/sampling_logp_difference/max"], 2);
  assert.is(m["sampling/importance_sampling_ratio/min"], 0.25);
  assert.is(m["sampling/importance_sampling_ratio/max"], 1.5);
  assert.ok(Math.abs(m["sampling/importance_sampling_ratio/mean"] - 4.25 / 5) < 1e-6);
  const perSequence = mismatchMetrics(
    Float32Array.from(learner),
    Float32Array.from(engine),
    Float32Array.from(mask),
    Float32Array.from([2, 0]),
  );
  assert.ok(Math.abs(perSequence["sampling/importance_sampling_ratio/mean"] - 6 / 5) < 1e-6);
});

test.run();
