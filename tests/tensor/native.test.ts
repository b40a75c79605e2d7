// The native backend (matmul on the machine's BLAS through FFI) agrees with the pure-TS backend
// on every matmul variant — transposes, batches, 16-bit right operands over several bands,
// subarray views — loads on Deno and Bun (CI installs libopenblas0-pthread) and on Node says why
// it cannot.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { encodeBf16, encodeF16 } from "../../lib/io/half_float.ts";
import { foldIn, normal, prngKey } from "../../lib/random/prng.ts";
import { availableBackends, loadBackend, tsBackend } from "../../lib/tensor/backends.ts";
import { type HalfFormat, HalfMatrix } from "../../lib/tensor/half.ts";
import type { Kernels, Shape } from "../../lib/tensor/kernels.ts";
import { loadBlas } from "../../lib/tensor/native/blas.ts";

const hasFfi = "Deno" in globalThis || "Bun" in globalThis;
const key = prngKey(12);
const ts = tsBackend.kernels;

/** Largest |got - want| over the largest |want|: sgemm sums in another order than the TS tile. */
const relativeError = (got: Float32Array, want: Float32Array): number => {
  assert.is(got.length, want.length);
  let [worst, peak] = [0, 0];
  for (let i = 0; i < want.length; i++) {
    worst = Math.max(worst, Math.abs(got[i] - want[i]));
    peak = Math.max(peak, Math.abs(want[i]));
  }
  return worst / peak;
};

if (!hasFfi) {
  test("on a runtime without FFI (Node), native is unavailable with the reason", async () => {
    const error = await loadBackend("native").then(() => null, (e: Error) => e);
    assert.match(String(error?.message), /native BLAS unavailable: this runtime has no FFI/);
    assert.not.ok((await availableBackends()).includes("native"));
  });
} else {
  const native = await loadBackend("native");
  const k: Kernels<unknown> = native.kernels;
  let seed = 0;
  const values = (n: number): Float32Array => normal(foldIn(key, ++seed), n);

  test("native loads here, reports its library and threads, and is listed as available", async () => {
    assert.is(native.name, "native");
    assert.match(String(native.detail), /^lib\S*blas\S* on \d+ threads?$/);
    assert.ok((await availableBackends()).includes("native"));
    assert.is(await loadBackend("native"), native);
  });

  /** [rows, cols] stored, or transposed: stored [cols, rows]. */
  const stored = (rows: number, cols: number, transposed: boolean): [number, number] =>
    transposed ? [cols, rows] : [rows, cols];

  test("float32 products agree with ts: every transpose pair, odd and large sizes", () => {
    for (const [m, kk, n] of [[1, 1, 1], [5, 7, 3], [33, 65, 17], [130, 257, 66]]) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          const aShape = stored(m, kk, tA), bShape = stored(kk, n, tB);
          const a = values(m * kk), b = values(kk * n);
          const got = k.matmul(a, aShape, b, bShape, tA, tB) as Float32Array;
          const want = ts.matmul(a, aShape, b, bShape, tA, tB) as Float32Array;
          const err = relativeError(got, want);
          assert.ok(err < 1e-5, `[${m}, ${kk}] x [${kk}, ${n}] tA=${tA} tB=${tB}: ${err}`);
        }
      }
    }
  });

  test("batched products agree with ts: shared b, batched b, transposed a over the batch", () => {
    const cases: [Shape, Shape, boolean, boolean][] = [
      [[2, 3, 5, 7], [7, 4], false, false], // shared b, batch folded into rows
      [[2, 3, 5, 7], [4, 7], false, true],
      [[3, 7, 5], [7, 4], true, false], // shared b, a transposed: one product per entry
      [[6, 5, 7], [6, 7, 4], false, false], // batched b
      [[6, 7, 5], [6, 4, 7], true, true],
    ];
    for (const [aShape, bShape, tA, tB] of cases) {
      const a = values(aShape.reduce((x, y) => x * y));
      const b = values(bShape.reduce((x, y) => x * y));
      const got = k.matmul(a, aShape, b, bShape, tA, tB) as Float32Array;
      const want = ts.matmul(a, aShape, b, bShape, tA, tB) as Float32Array;
      assert.ok(relativeError(got, want) < 1e-5, `${aShape} x ${bShape} tA=${tA} tB=${tB}`);
    }
  });

  test("matmulAdd is c + matmul: folded, batched, transposed, in place or onto a copy", () => {
    const cases: [Shape, Shape, boolean, boolean][] = [
      [[2, 3, 5, 7], [7, 4], false, false], // shared b, batch folded into rows
      [[3, 7, 5], [7, 4], true, false], // shared b, a transposed: one product per entry
      [[6, 7, 5], [6, 4, 7], true, true], // batched b
      [[2, 0], [0, 3], false, false], // no inner dimension: c itself
    ];
    for (const [aShape, bShape, tA, tB] of cases) {
      const a = values(aShape.reduce((x, y) => x * y));
      const b = values(bShape.reduce((x, y) => x * y));
      const product = ts.matmul(a, aShape, b, bShape, tA, tB) as Float32Array;
      for (const inPlace of [false, true]) {
        const c = values(product.length);
        const want = c.map((v, i) => v + product[i]);
        const got = k.matmulAdd(c, a, aShape, b, bShape, tA, tB, inPlace) as Float32Array;
        const what = `${aShape} x ${bShape} tA=${tA} tB=${tB} inPlace=${inPlace}`;
        assert.ok(relativeError(got, want) < 1e-5, what);
        assert.is(got.buffer === c.buffer, inPlace, `${what}: into c's buffer exactly in place`);
      }
    }
  });

  test("operands that are views into larger buffers are read from their own offset", () => {
    const [m, kk, n] = [4, 6, 5];
    const aBig = values(3 + m * kk + 2), bBig = values(7 + kk * n);
    const a = aBig.subarray(3, 3 + m * kk), b = bBig.subarray(7);
    const shared = new Float32Array(new SharedArrayBuffer(4 * (1 + kk * n)));
    shared.set(b, 1);
    const want = ts.matmul(a.slice(), [m, kk], b.slice(), [kk, n], false, false) as Float32Array;
    for (const right of [b, shared.subarray(1)]) {
      const got = k.matmul(a, [m, kk], right, [kk, n], false, false) as Float32Array;
      assert.ok(relativeError(got, want) < 1e-5);
    }
  });

  test("empty products: no rows gives nothing, no inner dimension gives zeros", () => {
    assert.is(
      (k.matmul(new Float32Array(0), [0, 3], values(6), [3, 2], false, false) as Float32Array)
        .length,
      0,
    );
    assert.equal(
      Array.from(
        k.matmul(
          new Float32Array(0),
          [2, 0],
          new Float32Array(0),
          [0, 3],
          false,
          false,
        ) as Float32Array,
      ),
      [0, 0, 0, 0, 0, 0],
    );
  });

  const formats: [HalfFormat, (x: Float32Array) => Uint16Array][] = [
    ["bf16", encodeBf16],
    ["f16", encodeF16],
  ];
  for (const [format, encode] of formats) {
    test(`${format} weights: products over several widened bands agree with ts`, () => {
      // BF16 x Wᵀ of up to 8 rows in the wasm kernel (widened in registers; rows in fours, then
      // one by one), other products of up to 4 rows per row through sgemv, more through sgemm.
      // 1500 is no multiple of the kernel's 8 lanes.
      // 1500 x 1500 values: two wide bands (8 MB) or eighteen narrow ones, either way stored.
      const [rows, cols] = [1500, 1500];
      const bits = encode(values(rows * cols));
      const half = k.uploadHalf!(bits, format, [rows, cols]);
      assert.instance(half, HalfMatrix);
      const tsHalf = ts.uploadHalf!(bits, format, [rows, cols]);
      for (const m of [1, 3, 6, 8, 9]) {
        // x @ Wᵀ (a linear layer: W stored [out, in]) and g @ W (its backward), batched a.
        const x = values(2 * m * cols), g = values(2 * m * rows);
        const forward = [k, ts].map((kk, i) =>
          kk.matmul(x, [2, m, cols], i ? tsHalf : half, [rows, cols], false, true) as Float32Array
        );
        assert.ok(relativeError(forward[0], forward[1]) < 1e-5, `x Wt, m=${m}`);
        const backward = [k, ts].map((kk, i) =>
          kk.matmul(g, [2, m, rows], i ? tsHalf : half, [rows, cols], false, false) as Float32Array
        );
        assert.ok(relativeError(backward[0], backward[1]) < 1e-5, `g W, m=${m}`);
      }
      // a transposed (each band takes rows of the stored a; sgemv strides over them).
      for (const m of [2, 5]) {
        const at = values(rows * m);
        for (const tB of [false, true]) {
          const got = k.matmul(at, [rows, m], half, [rows, cols], true, tB) as Float32Array;
          const want = ts.matmul(at, [rows, m], tsHalf, [rows, cols], true, tB) as Float32Array;
          assert.ok(relativeError(got, want) < 1e-5, `at W, m=${m}, tB=${tB}`);
        }
      }
    });
  }

  test("a reused output buffer's stale values never show: every path writes all of its output", () => {
    const [rows, cols] = [512, 300];
    for (const [format, encode] of formats) {
      const bits = encode(values(rows * cols));
      const [half, tsHalf] = [k, ts].map((kk) => kk.uploadHalf!(bits, format, [rows, cols]));
      for (const m of [4, 8]) {
        for (const tB of [false, true]) {
          const x = values(m * (tB ? cols : rows));
          const xShape = [m, tB ? cols : rows];
          const outValues = m * (tB ? rows : cols);
          k.dispose(k.fill([outValues], NaN, "float32")); // the pool now holds NaNs of that size
          const got = k.matmul(x, xShape, half, [rows, cols], false, tB) as Float32Array;
          const want = ts.matmul(x, xShape, tsHalf, [rows, cols], false, tB) as Float32Array;
          assert.ok(relativeError(got, want) < 1e-5, `${format}, m=${m}, tB=${tB}`);
        }
      }
    }
    const [a, b] = [values(40 * 30), values(30 * 50)];
    k.dispose(k.fill([40 * 50], NaN, "float32"));
    const got = k.matmul(a, [40, 30], b, [30, 50], false, false) as Float32Array;
    assert.ok(
      relativeError(got, ts.matmul(a, [40, 30], b, [30, 50], false, false) as Float32Array) < 1e-5,
    );
  });

  test("sgemm refuses operands too short for the shapes it is given (C must not read past)", () => {
    const blas = loadBlas();
    const [a, b, c] = [values(6), values(6), new Float32Array(4)];
    assert.throws(() => blas.sgemm(false, false, 2, 3, 3, a, 3, b, 3, 0, c, 3), /B holds 6 values/);
    assert.throws(() => blas.sgemm(false, false, 2, 2, 3, a, 4, b, 2, 0, c, 2), /A holds 6/);
    assert.throws(() => blas.sgemm(false, false, 2, 2, 3, a, 3, b, 2, 0, c, 3), /C holds 4/);
    assert.throws(() => blas.sgemm(false, false, 0, 2, 3, a, 3, b, 2, 0, c, 2), /A is empty/);
    blas.sgemm(false, false, 2, 2, 3, a, 3, b, 2, 0, c, 2);
    const want = ts.matmul(a, [2, 3], b, [3, 2], false, false) as Float32Array;
    assert.ok(relativeError(c, want) < 1e-6);
  });
}

test.run();
