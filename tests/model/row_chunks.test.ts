/**
 * Activations wider than the binding limit (the MLP's [B·T, intermediate], attention's
 * [B, H, T, S] scores) are computed in row / query chunks: under an enforced limit the
 * qwen2-tiny fixture gives the same hidden states and LoRA gradients as without one.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fileURLToPath } from "node:url";
import { valueAndGrad } from "../../lib/autodiff/grad.ts";
import { mean, mul } from "../../lib/autodiff/ops.ts";
import { scope, type Tensor, tensor, toArray } from "../../lib/autodiff/tensor.ts";
import type { Backend } from "../../lib/tensor/backends.ts";
import { readModel } from "../../lib/io/model_weights.ts";
import { hiddenStates, initLora, type LoraWeights } from "../../lib/model/decoder.ts";
import { paramsFromWeights } from "../../lib/model/weights.ts";
import { mapRowChunks } from "../../lib/nn/row_chunks.ts";
import { foldIn, normal, prngKey, uniform } from "../../lib/random/prng.ts";
import { loadTfjsBackend } from "../../lib/tensor/tfjs/kernels.ts";
import { treeFlatten } from "../../lib/tree.ts";
import { isTensor } from "../../lib/autodiff/grad.ts";

const fixture = await readModel(fileURLToPath(new URL("../fixtures/qwen2-tiny", import.meta.url)));
const cfg = fixture.config;
// Every weight ([64, 32] at most) fits; the MLP's [48, 64] activation (12 KB) and attention's
// [2, 4, 24, 24] scores (18 KB) do not.
const limit = 8192;
const key = prngKey(5);
const [b, t] = [2, 24];
const ids = Array.from(
  { length: b },
  (_, r) => Array.from(uniform(foldIn(key, r), t), (u) => Math.floor(u * cfg.vocabSize)),
);

/** LoRA on every projection with a nonzero B, so every adapter weight gets a gradient. */
const adapterOn = (backend: Backend): LoraWeights => {
  const fresh = initLora(backend, cfg, foldIn(key, 10), 2);
  let n = 0;
  return {
    layers: fresh.layers.map((layer) =>
      Object.fromEntries(
        Object.entries(layer).map(([proj, pair]) => [
          proj,
          {
            A: pair!.A,
            B: tensor(backend, normal(foldIn(key, 20 + n++), pair!.B.size, 0, 0.1), pair!.B.shape),
          },
        ]),
      )
    ),
  };
};

const run = async (backend: Backend) => {
  const params = paramsFromWeights(backend, cfg, fixture.weights, "fixture");
  const weights = adapterOn(backend);
  const probe = tensor(backend, normal(foldIn(key, 99), b * t * cfg.hiddenSize), [
    b,
    t,
    cfg.hiddenSize,
  ]);
  const objective = (w: LoraWeights): Tensor => {
    const { hidden } = hiddenStates(cfg, params, ids, { adapter: { weights: w, scaling: 2 } });
    return mean(mul(hidden, probe));
  };
  const { value, grads } = scope(() => valueAndGrad(objective)(weights));
  const leaves = await Promise.all(
    treeFlatten(grads, isTensor).map(async ([path, g]) =>
      [path, Array.from(await toArray(g))] as const
    ),
  );
  return { value: (await toArray(value))[0], grads: new Map(leaves) };
};

test("under an enforced limit: same hidden-state objective and LoRA gradients as without", async () => {
  const limited = await loadTfjsBackend("tfjs-cpu", { maxBindingBytes: limit });
  const free = await loadTfjsBackend("tfjs-cpu");
  const [got, want] = [await run(limited), await run(free)];
  assert.ok(Math.abs(got.value - want.value) < 1e-6, `${got.value} vs ${want.value}`);
  assert.is(got.grads.size, want.grads.size);
  for (const [path, g] of want.grads) {
    const worst = g.reduce((w, x, i) => Math.max(w, Math.abs(x - got.grads.get(path)![i])), 0);
    assert.ok(worst < 1e-6, `${path}: max |difference| ${worst}`);
  }
});

test("one chunk (no extra op) when the widest intermediate fits; rows split evenly otherwise", async () => {
  const backend = await loadTfjsBackend("tfjs-cpu", { maxBindingBytes: 4 * 16 * 10 });
  const x = tensor(backend, Float32Array.from({ length: 2 * 12 * 4 }, (_, i) => i), [2, 12, 4]);
  const calls: number[] = [];
  const same = mapRowChunks(x, 4, (rows) => (calls.push(rows.shape[0]), rows));
  assert.is(same, x, "fits: f gets x itself");
  calls.length = 0;
  const out = mapRowChunks(x, 16, (rows) => (calls.push(rows.shape[0]), mul(rows, 2)));
  assert.equal(calls, [8, 8, 8], "24 rows of width 16 under 640 bytes: 3 chunks of 8");
  assert.equal(out.shape, [2, 12, 4]);
  assert.equal(Array.from(await toArray(out)), Array.from(await toArray(x), (v) => 2 * v));
});

test("the limit is real: one unchunked MLP activation of this batch is refused", async () => {
  const limited = await loadTfjsBackend("tfjs-cpu", { maxBindingBytes: limit });
  const rows = b * t;
  assert.throws(
    () =>
      tensor(limited, new Float32Array(rows * cfg.intermediateSize), [rows, cfg.intermediateSize]),
    /over the 8192-byte limit/,
  );
});

test.run();
