/**
 * Long sequences: attention in query chunks with its own gradient gives the unchunked values and
 * gradients, and a training step with gradient checkpointing holds activation memory that grows
 * linearly, not quadratically, in the sequence length.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fileURLToPath } from "node:url";
import { isTensor, valueAndGrad } from "../../lib/autodiff/grad.ts";
import { mean, mul } from "../../lib/autodiff/ops.ts";
import { type Tensor, tensor, toArray } from "../../lib/autodiff/tensor.ts";
import { readModel } from "../../lib/io/model_weights.ts";
import { hiddenStates, initLora, initParams, type LoraWeights } from "../../lib/model/decoder.ts";
import { attend, attentionMask } from "../../lib/nn/attention.ts";
import { foldIn, normal, prngKey, uniform } from "../../lib/random/prng.ts";
import { tsBackend } from "../../lib/tensor/backends.ts";
import { meteredBackend } from "../../lib/tensor/metered.ts";
import { treeFlatten } from "../../lib/tree.ts";

const key = prngKey(21);
const randn = (k: number, shape: number[]) =>
  tensor(tsBackend, normal(foldIn(key, k), shape.reduce((a, b) => a * b, 1)), shape);

test("chunked attention: the unchunked output and q, k, v gradients (GQA, padding, cache)", async () => {
  const [b, heads, kvHeads, t, past, d] = [2, 4, 2, 7, 3, 8];
  const q = randn(1, [b, heads, t, d]);
  const k = randn(2, [b, kvHeads, past + t, d]);
  const v = randn(3, [b, kvHeads, past + t, d]);
  const probe = randn(4, [b, heads, t, d]);
  const keyMask = [new Array(past + t).fill(1), [0, 0, ...new Array(past + t - 2).fill(1)]];
  const mask = attentionMask(tsBackend, keyMask, t);
  const run = (maxScoreValues: number) =>
    valueAndGrad(([qq, kk, vv]: readonly Tensor[]) =>
      mean(mul(attend(qq, kk, vv, mask, maxScoreValues), probe))
    )([q, k, v]);
  const whole = run(Infinity);
  for (const budget of [b * heads * (past + t) * 2, b * heads * (past + t) * 3]) {
    const chunked = run(budget);
    const want = [whole.value, ...whole.grads];
    const got = [chunked.value, ...chunked.grads];
    for (const [i, w] of want.entries()) {
      const [x, y] = [await toArray(got[i]), await toArray(w)] as Float32Array[];
      const peak = y.reduce((m, z) => Math.max(m, Math.abs(z)), 0);
      x.forEach((z, j) => assert.ok(Math.abs(z - y[j]) <= 1e-6 * peak, `output ${i}[${j}]`));
    }
  }
});

// Many narrow heads: from 256 tokens on the [1, 16, T, T] scores exceed one chunk's 1M values.
const fixture = await readModel(fileURLToPath(new URL("../fixtures/qwen2-tiny", import.meta.url)));
const cfg = {
  ...fixture.config,
  numAttentionHeads: 16,
  numKeyValueHeads: 2,
  headDim: 2,
  maxPositionEmbeddings: 1 << 16,
};

/** Peak bytes held during one LoRA training step (checkpointed layers) over t tokens. */
const stepPeak = (t: number): number => {
  const { backend, meter } = meteredBackend(tsBackend);
  const params = initParams(backend, cfg, foldIn(key, 9));
  const weights = initLora(backend, cfg, foldIn(key, 10), 4);
  const ids = [Array.from(uniform(foldIn(key, 5), t), (u) => Math.floor(u * cfg.vocabSize))];
  const probe = tensor(backend, normal(foldIn(key, 6), t * cfg.hiddenSize), [1, t, cfg.hiddenSize]);
  const before = meter.live();
  meter.resetPeak();
  const out = valueAndGrad((w: LoraWeights) => {
    const adapter = { weights: w, scaling: 2 };
    const { hidden } = hiddenStates(cfg, params, ids, { adapter, gradientCheckpointing: true });
    return mean(mul(hidden, probe));
  })(weights);
  treeFlatten(out, isTensor).forEach(([, x]) => (x as Tensor).dispose());
  return meter.peak() - before;
};

test("a checkpointed step's activation memory grows linearly in the sequence length", () => {
  const lengths = [320, 384, 448, 512];
  const peaks = lengths.map(stepPeak);
  const slopes = peaks.slice(1).map((p, i) => (p - peaks[i]) / (lengths[i + 1] - lengths[i]));
  // [1, 16, T, T] float32 scores alone would raise each slope by 16 · 4 B · 2 · 64 = 8 KB a
  // token; linear growth keeps the slopes equal up to chunk rounding.
  const spread = Math.max(...slopes) - Math.min(...slopes);
  assert.ok(spread < 2048, `bytes per token ${slopes.map((s) => s.toFixed(0)).join(", ")}`);
  // A chunk's working set (~10 tensors of 1M scores) and no more: unchunked, the softmax and its
  // gradient would hold ~10 tensors of all 16 · 512² scores, 168 MB.
  assert.ok(peaks[3] < 60e6, `peak ${peaks[3]} B at 512 tokens`);
});

test.run();
