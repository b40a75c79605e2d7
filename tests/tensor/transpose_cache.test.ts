// tfjs-wasm keeps the transposes of matrices used repeatedly as Bᵀ (see transposeCache in
// lib/tensor/tfjs/kernels.ts): kept from the second use, freed with the matrix, never beyond the
// byte budget, and the products stay right.
import * as tf from "@tensorflow/tfjs-core";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { matmul } from "../../lib/autodiff/ops.ts";
import { tensor, toArray } from "../../lib/autodiff/tensor.ts";
import { loadBackend } from "../../lib/tensor/backends.ts";
import { transposeCache } from "../../lib/tensor/tfjs/kernels.ts";
import { activate } from "../../lib/tensor/tfjs/engine.ts";

await loadBackend("tfjs-cpu");
activate("tfjs-cpu");

const matrix = (rows: number, cols: number) =>
  tf.tensor2d(Float32Array.from({ length: rows * cols }, (_, i) => i), [rows, cols]);

test("kept from the second use, the same tensor after that, freed with its matrix", () => {
  const cache = transposeCache(1 << 20);
  const b = matrix(2, 3);
  const first = cache.transposed(b);
  assert.equal(first.shape, [3, 2]);
  assert.equal(Array.from(first.dataSync()), [0, 3, 1, 4, 2, 5]);
  first.dispose();
  const second = cache.transposed(b);
  assert.is(cache.transposed(b), second, "the kept transpose is reused");
  assert.is(cache.keptBytes(), 24);
  const before = tf.memory().numTensors;
  cache.release(b);
  assert.is(tf.memory().numTensors, before - 1, "releasing b frees its transpose");
  assert.is(cache.keptBytes(), 0);
  b.dispose();
});

test("beyond the budget, transposes are made fresh and nothing more is kept", () => {
  const cache = transposeCache(40);
  const small = matrix(2, 3); // 24 bytes: fits
  const large = matrix(3, 3); // 36 bytes: 24 + 36 > 40
  for (const b of [small, small, large, large]) {
    const t = cache.transposed(b);
    if (b === large) t.dispose();
  }
  assert.is(cache.keptBytes(), 24);
  const t1 = cache.transposed(large);
  assert.is.not(cache.transposed(large), t1, "not kept");
  cache.release(small);
  small.dispose();
  large.dispose();
});

test("products on tfjs-wasm with a repeated Bᵀ weight match the pure-TS backend", async () => {
  const ts = await loadBackend("ts");
  const wasm = await loadBackend("tfjs-wasm");
  const x = Float32Array.from({ length: 4 * 5 }, (_, i) => Math.sin(i));
  const w = Float32Array.from({ length: 3 * 5 }, (_, i) => Math.cos(i));
  const want = await toArray(
    matmul(tensor(ts, x, [4, 5]), tensor(ts, w, [3, 5]), { transposeB: true }),
  );
  const weight = tensor(wasm, w, [3, 5]);
  for (let use = 0; use < 3; use++) {
    const got = await toArray(matmul(tensor(wasm, x, [4, 5]), weight, { transposeB: true }));
    got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) < 1e-5, `use ${use}, entry ${i}`));
  }
  weight.dispose();
});

test.run();
