// The decoding product (BF16 rows x Wᵀ, lib/tensor/native/half_gemv.ts) shared out across
// worker threads gives the same bits as one thread, for every row count the kernel serves, odd
// widths, weights at an offset of their shared buffer, and back-to-back products; and it runs on
// more than one thread where the runtime allows (Deno and Bun; Node stays on one).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { availableParallelism } from "node:os";
import process from "node:process";
import { encodeBf16 } from "../../lib/io/half_float.ts";
import { foldIn, normal, prngKey } from "../../lib/random/prng.ts";
import { loadBlas } from "../../lib/tensor/native/blas.ts";
import { halfInArena } from "../../lib/tensor/native/half_arena.ts";
import {
  bf16RowsTimesTransposed,
  bf16WidenedBandsOnThreads,
  halfGemvThreads,
} from "../../lib/tensor/native/half_gemv.ts";
import { bf16Columns } from "../../lib/tensor/native/half_gemv_columns.ts";
import { nativeMatmul } from "../../lib/tensor/native/matmul.ts";

const key = prngKey(21);
const hasWorkers = "Deno" in globalThis || "Bun" in globalThis;

/** BF16 bits of n·k normal values in shared memory, `offset` values into their buffer. */
const sharedBits = (n: number, k: number, offset: number, seed: number): Uint16Array => {
  const bits = new Uint16Array(new SharedArrayBuffer((offset + n * k) * 2), offset * 2, n * k);
  bits.set(encodeBf16(normal(foldIn(key, seed), n * k)));
  return bits;
};

const sameBits = (got: Float32Array, want: Float32Array, what: string) => {
  assert.is(got.length, want.length, what);
  const differ = got.findIndex((v, i) => !Object.is(v, want[i]));
  assert.is(differ, -1, `${what}: first differing value at ${differ}`);
};

test("shared out across threads: the same bits as one thread, float64 reference close", () => {
  // 1501 x 1001: above the size that is shared out, not a multiple of the chunk, of the two
  // weight rows the kernel takes at a time, or of its 8 lanes.
  const [n, k] = [1501, 1001];
  for (const [m, offset] of [[1, 0], [3, 7], [4, 1], [8, 0]]) {
    const bits = sharedBits(n, k, offset, m);
    const x = normal(foldIn(key, 100 + m), m * k);
    const threaded = new Float32Array(m * n).fill(NaN);
    bf16RowsTimesTransposed(x, bits, m, n, k, threaded);
    const single = new Float32Array(m * n).fill(NaN);
    bf16Columns(x, bits, m, n, k, 0, n, single);
    sameBits(threaded, single, `m=${m}, offset=${offset}`);
    // one value against float64, so that equal bits are not equal garbage
    const wide = new Float32Array(
      new Uint32Array(Array.from(bits.subarray(0, k), (b) => b << 16)).buffer,
    );
    const want = wide.reduce((s, w, p) => s + w * x[p], 0);
    assert.ok(
      Math.abs(threaded[0] - want) < 1e-3 * (1 + Math.abs(want)),
      `m=${m}: ${threaded[0]} vs ${want}`,
    );
  }
});

test("back-to-back products of different shapes reuse the workers and stay exact", () => {
  const shapes = [[600, 896], [896, 600], [2048, 300], [600, 896]];
  shapes.forEach(([n, k], i) => {
    const m = 1 + (i % 8);
    const bits = sharedBits(n, k, 0, 50 + i);
    const x = normal(foldIn(key, 60 + i), m * k);
    const [threaded, single] = [new Float32Array(m * n), new Float32Array(m * n)];
    bf16RowsTimesTransposed(x, bits, m, n, k, threaded);
    bf16Columns(x, bits, m, n, k, 0, n, single);
    sameBits(threaded, single, `[${n}, ${k}], m=${m}`);
  });
});

test("sgemm over widened bands on every thread: the same bits as the one-thread loop", () => {
  if (!hasWorkers) return; // no BLAS on Node
  // One product runs matmul.ts's one-thread loop (a BLAS of one thread, the library set to one
  // as TINA_THREADS=1 sets it), the other shares its bands out: decoding's few rows in bands of
  // 65 weight rows, and a prefill's rows flipped in matmul.ts's bands of 2^21 values (2095 rows).
  const oneThread = loadBlas(1);
  const everyCore = loadBlas();
  const k = 1001;
  for (const [m, n, bandColumns, flipped] of [[2, 1501, 65], [8, 1501, 65], [32, 4501, 2095, 1]]) {
    const weight = halfInArena(encodeBf16(normal(foldIn(key, 200 + m), n * k)), "bf16")!;
    const x = normal(foldIn(key, 300 + m), m * k);
    const shared = new Float32Array(m * n).fill(NaN);
    const ran = bf16WidenedBandsOnThreads(
      everyCore,
      x,
      weight.bits,
      m,
      n,
      k,
      shared,
      bandColumns,
      flipped === 1,
    );
    assert.is(ran, halfGemvThreads() > 1, `m=${m}: shared out exactly when threads are`);
    if (!ran) continue;
    let single: Float32Array = new Float32Array(0);
    everyCore.onOneThread(() => {
      single = nativeMatmul(oneThread, x, [m, k], weight, [n, k], false, true);
    });
    sameBits(shared, single, `m=${m}`);
    const wide = new Float32Array(
      new Uint32Array(Array.from(weight.bits.subarray((n - 1) * k, n * k), (b) => b << 16)).buffer,
    );
    const want = wide.reduce((s, w, p) => s + w * x[(m - 1) * k + p], 0);
    assert.ok(
      Math.abs(shared[m * n - 1] - want) < 1e-3 * (1 + Math.abs(want)),
      `m=${m}, last value: ${shared[m * n - 1]} vs ${want}`,
    );
  }
});

test("operands too short are refused with their shapes", () => {
  const bits = sharedBits(600, 896, 0, 70);
  assert.throws(
    () => bf16RowsTimesTransposed(new Float32Array(10), bits, 1, 600, 896, new Float32Array(600)),
    /operands too short for \[1, 896\] x \[600, 896\]ᵀ/,
  );
  assert.throws(
    () => bf16Columns(new Float32Array(896), bits, 1, 600, 896, 500, 700, new Float32Array(600)),
    /columns \[500, 700\) are not within \[0, 600\)/,
  );
});

test("after those products: every core unless TINA_THREADS says otherwise, one on Node", () => {
  const asked = Number(process.env.TINA_THREADS);
  const expected = !hasWorkers ? 1 : asked >= 1 ? asked : availableParallelism();
  assert.is(halfGemvThreads(), expected);
});

test.run();
