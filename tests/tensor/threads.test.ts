// The pure-TS backend's products on several threads: bit for bit the one-thread result (each
// output column is computed by the same code in the same order), for float32 and 16-bit right
// operands, transposed, batched and shared, on Deno, Bun and Node alike.
import { test } from "uvu";
import * as assert from "uvu/assert";
import process from "node:process";
import { encodeBf16 } from "../../lib/io/half_float.ts";
import { foldIn, normal, prngKey } from "../../lib/random/prng.ts";
import { tsKernels } from "../../lib/tensor/ts/kernels.ts";
import { threadsInUse } from "../../lib/tensor/ts/threads.ts";

const key = prngKey(51);
const k = tsKernels;

/** f's result on `threads` threads. */
const on = <T>(threads: number, f: () => T): T => {
  const saved = process.env.TINA_THREADS;
  process.env.TINA_THREADS = String(threads);
  try {
    return f();
  } finally {
    if (saved === undefined) delete process.env.TINA_THREADS;
    else process.env.TINA_THREADS = saved;
  }
};

test("two threads give the one-thread product bit for bit", () => {
  const [m, kk, n] = [70, 256, 300]; // over the dispatch threshold; n not a multiple of 4·2
  const a = normal(foldIn(key, 1), m * kk);
  const weight = k.upload(normal(foldIn(key, 2), n * kk), [n, kk]);
  const half = k.uploadHalf!(encodeBf16(normal(foldIn(key, 3), n * kk)), "bf16", [n, kk]);
  const batched = normal(foldIn(key, 4), 3 * kk * n);
  const cases: [string, () => unknown][] = [
    ["x Wᵀ", () => k.matmul(a, [m, kk], weight, [n, kk], false, true)],
    ["x Wᵀ, W 16-bit", () => k.matmul(a, [m, kk], half, [n, kk], false, true)],
    [
      "batched b",
      () =>
        k.matmul(normal(foldIn(key, 5), 3 * m * kk), [3, m, kk], batched, [3, kk, n], false, false),
    ],
    [
      "transposed a",
      () => k.matmul(normal(foldIn(key, 6), kk * m), [kk, m], weight, [n, kk], true, true),
    ],
  ];
  for (const [what, product] of cases) {
    assert.equal(on(2, product), on(1, product), what);
  }
  assert.is(on(2, threadsInUse), 2, "the workers started");
});

test.run();
