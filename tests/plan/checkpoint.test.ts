/**
 * Gradient checkpointing: the same values and gradients as the plain computation (1e-6), on a
 * small function and on the decoder with LoRA on every projection (dropout on, so the recompute
 * must draw the same masks), with fewer bytes held at the peak of a training step.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fileURLToPath } from "node:url";
import { checkpoint } from "../../lib/autodiff/checkpoint.ts";
import { isTensor, valueAndGrad } from "../../lib/autodiff/grad.ts";
import { matmul, mean, mul, silu, sum, tanh } from "../../lib/autodiff/ops.ts";
import { type Tensor, tensor, toArray } from "../../lib/autodiff/tensor.ts";
import { readModel } from "../../lib/io/model_weights.ts";
import {
  type AppliedLora,
  hiddenStates,
  initLora,
  initParams,
  type LoraWeights,
} from "../../lib/model/decoder.ts";
import { paramsFromWeights } from "../../lib/model/weights.ts";
import { foldIn, normal, prngKey, uniform } from "../../lib/random/prng.ts";
import { tsBackend } from "../../lib/tensor/backends.ts";
import { meteredBackend } from "../../lib/tensor/metered.ts";
import { treeFlatten } from "../../lib/tree.ts";

const key = prngKey(11);
const backend = tsBackend;
const randn = (k: number, shape: number[], std = 1) =>
  tensor(backend, normal(foldIn(key, k), shape.reduce((a, b) => a * b, 1), 0, std), shape);

const leaves = (tree: unknown): Promise<Float32Array[]> =>
  Promise.all(
    treeFlatten(tree, isTensor).map(async ([, t]) => (await toArray(t as Tensor)) as Float32Array),
  );

const assertClose = (got: Float32Array[], want: Float32Array[], tol: number, what: string) => {
  assert.is(got.length, want.length, what);
  got.forEach((g, i) => {
    const peak = want[i].reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    g.forEach((x, j) => {
      const err = Math.abs(x - want[i][j]);
      if (!(err <= tol * Math.max(peak, 1e-12))) {
        assert.unreachable(`${what}: leaf ${i}[${j}] ${x} vs ${want[i][j]}`);
      }
    });
  });
};

test("checkpoint(f) has f's value and gradients, for inputs used or not", async () => {
  const w1 = randn(1, [6, 5]);
  const w2 = randn(2, [5, 4]);
  const frozen = randn(3, [4, 4]);
  const x = randn(4, [3, 6]);
  const block = ([a, w, v]: readonly Tensor[]) =>
    matmul(tanh(matmul(silu(matmul(a, w)), v)), frozen);
  const loss = (wrap: boolean) => ([w, v]: readonly Tensor[]) => {
    const h = wrap ? checkpoint(block)([x, w, v]) : block([x, w, v]);
    return mean(mul(h, h));
  };
  const plain = valueAndGrad(loss(false))([w1, w2]);
  const checked = valueAndGrad(loss(true))([w1, w2]);
  assertClose([...await leaves(checked.value)], [...await leaves(plain.value)], 1e-6, "value");
  assertClose(await leaves(checked.grads), await leaves(plain.grads), 1e-6, "gradients");
  // Only the second weight is a parameter: the other input's gradient is not asked for.
  const one = valueAndGrad(([v]: readonly Tensor[]) => sum(checkpoint(block)([x, w1, v])))([w2]);
  const want = valueAndGrad(([v]: readonly Tensor[]) => sum(block([x, w1, v])))([w2]);
  assertClose(await leaves(one.grads), await leaves(want.grads), 1e-6, "one parameter");
});

const fixture = await readModel(fileURLToPath(new URL("../fixtures/qwen2-tiny", import.meta.url)));
const cfg = fixture.config;
const ids = (b: number, t: number) =>
  Array.from(
    { length: b },
    (_, r) => Array.from(uniform(foldIn(key, 50 + r), t), (u) => Math.floor(u * cfg.vocabSize)),
  );

/** LoRA on every projection with B nonzero, so every adapter weight has a gradient. */
const adapterOn = (be: typeof backend): LoraWeights => {
  const fresh = initLora(be, cfg, foldIn(key, 10), 4);
  let n = 0;
  return {
    layers: fresh.layers.map((layer) =>
      Object.fromEntries(
        Object.entries(layer).map(([proj, pair]) => [
          proj,
          {
            A: pair!.A,
            B: tensor(be, normal(foldIn(key, 20 + n++), pair!.B.size, 0, 0.1), pair!.B.shape),
          },
        ]),
      )
    ),
  };
};

const decoderStep = (be: typeof backend, gradientCheckpointing: boolean, b: number, t: number) => {
  const params = paramsFromWeights(be, cfg, fixture.weights, "fixture");
  const weights = adapterOn(be);
  const batch = ids(b, t);
  const probe = tensor(be, normal(foldIn(key, 99), b * t * cfg.hiddenSize), [b, t, cfg.hiddenSize]);
  return valueAndGrad((w: LoraWeights) => {
    const adapter: AppliedLora = {
      weights: w,
      scaling: 2,
      dropout: { rate: 0.1, key: foldIn(key, 7) },
    };
    const { hidden } = hiddenStates(cfg, params, batch, { adapter, gradientCheckpointing });
    return mean(mul(hidden, probe));
  })(weights);
};

test("the decoder with gradientCheckpointing: same loss and LoRA gradients (1e-6)", async () => {
  const plain = decoderStep(backend, false, 2, 12);
  const checked = decoderStep(backend, true, 2, 12);
  assertClose(await leaves(checked.value), await leaves(plain.value), 1e-6, "loss");
  assertClose(await leaves(checked.grads), await leaves(plain.grads), 1e-6, "LoRA gradients");
});

test("gradientCheckpointing holds fewer bytes at the peak of a step", () => {
  const peakOf = (gradientCheckpointing: boolean) => {
    const { backend: metered, meter } = meteredBackend(tsBackend);
    decoderStep(metered, gradientCheckpointing, 2, 48);
    return meter.peak();
  };
  const plain = peakOf(false);
  const checked = peakOf(true);
  assert.ok(checked < 0.8 * plain, `peak ${checked} B with checkpointing vs ${plain} B without`);
});

test("an inference forward holds one layer's intermediates at a time, however deep", () => {
  const peakOf = (layers: number) => {
    const { backend: metered, meter } = meteredBackend(tsBackend);
    const deep = { ...cfg, numHiddenLayers: layers };
    const params = initParams(metered, deep, foldIn(key, 5));
    meter.resetPeak();
    const before = meter.live();
    hiddenStates(deep, params, ids(2, 48)).hidden.dispose();
    return meter.peak() - before;
  };
  const [shallow, deep] = [peakOf(2), peakOf(8)];
  // Each layer keeps what it returns (its KV cache, output and attention output, ~36 KB here);
  // its other intermediates (~300 KB a layer here) are freed before the next layer runs.
  const kept = 4 * (2 * 2 * 48 * cfg.numKeyValueHeads * cfg.headDim + 2 * 2 * 48 * cfg.hiddenSize);
  assert.ok(deep - shallow <= 6 * kept * 1.2, `peak ${shallow} B at 2 layers, ${deep} B at 8`);
});

test.run();
