// The pure-TS backend's fast paths give what the plain path gives: broadcasting by rows or by a
// repeated suffix without an expanded copy (exactly), reductions over any run of axes without an
// index table, exp within a float32 ulp, softmax rows with masked (-1e9) scores; and its buffer
// pool reuses memory only when that is safe.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { foldIn, normal, prngKey } from "../../lib/random/prng.ts";
import { tsBackend } from "../../lib/tensor/backends.ts";
import { expFast } from "../../lib/tensor/ts/exp.ts";
import type { BinaryOp, Shape } from "../../lib/tensor/kernels.ts";
import { sizeOf, stridesOf } from "../../lib/tensor/shape.ts";

const k = tsBackend.kernels;
const key = prngKey(12);
const randn = (i: number, shape: Shape) => normal(foldIn(key, i), sizeOf(shape));

/** x broadcast to `out` one element at a time (the reference the fast paths must equal). */
const naiveExpand = (x: Float32Array, shape: Shape, out: Shape): Float32Array => {
  const padded = [...new Array<number>(out.length - shape.length).fill(1), ...shape];
  const [src, dst] = [stridesOf(padded), stridesOf(out)];
  return Float32Array.from(
    { length: sizeOf(out) },
    (_, i) =>
      x[
        out.reduce(
          (at, d, ax) => at + (padded[ax] === 1 ? 0 : Math.floor(i / dst[ax]) % d * src[ax]),
          0,
        )
      ],
  );
};

const ops: BinaryOp[] = ["add", "sub", "mul", "div", "maximum", "minimum", "pow"];
const cases: [Shape, Shape][] = [
  [[6, 40], [6, 1]], // a value per row
  [[2, 3, 4, 20], [2, 3, 1, 1]], // a value per run of 80
  [[5, 32], [32]], // a bias
  [[2, 3, 4, 20], [4, 20]], // RoPE's [T, D] against [B, H, T, D]
  [[2, 3, 4, 20], [1, 3, 4, 20]],
];

test("binary broadcasting by rows or suffix equals the element-by-element reference", () => {
  cases.forEach(([full, part], i) => {
    const a = randn(2 * i, full).map(Math.abs);
    const b = randn(2 * i + 1, part).map((v) => Math.abs(v) + 0.5);
    const wide = naiveExpand(b, part, full);
    for (const op of ops) {
      const want = k.binary(op, a, full, wide, full, full, "float32");
      assert.equal(k.binary(op, a, full, b, part, full, "float32"), want, `${op} ${part}`);
      const swapped = k.binary(op, wide, full, a, full, full, "float32");
      assert.equal(k.binary(op, b, part, a, full, full, "float32"), swapped, `${op} swapped`);
    }
  });
});

test("int32 broadcasting by rows keeps int32", () => {
  const a = Int32Array.from({ length: 4 * 32 }, (_, i) => i - 60);
  const b = Int32Array.from([3, -2, 7, 1]);
  const got = k.binary("mul", a, [4, 32], b, [4, 1], [4, 32], "int32");
  assert.ok(got instanceof Int32Array);
  assert.equal(Array.from(got as Int32Array), Array.from(a, (v, i) => v * b[Math.floor(i / 32)]));
});

test("sum and max over leading, middle, trailing and scattered axes equal the reference", () => {
  const shape = [3, 4, 5, 6];
  const x = randn(20, shape);
  x[7] = NaN; // max propagates NaN wherever it falls
  const reference = (op: "sum" | "max", axes: number[]) => {
    const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const out = new Float32Array(sizeOf(outShape)).fill(op === "max" ? -Infinity : 0);
    const [src, dst] = [stridesOf(shape), stridesOf(outShape)];
    x.forEach((v, i) => {
      const o = shape.reduce(
        (at, d, ax) => at + (axes.includes(ax) ? 0 : Math.floor(i / src[ax]) % d * dst[ax]),
        0,
      );
      out[o] = op === "sum" ? out[o] + v : v > out[o] || Number.isNaN(v) ? v : out[o];
    });
    return out;
  };
  for (const axes of [[0], [0, 1], [1], [1, 2], [2, 3], [3], [0, 2], [0, 1, 2, 3]]) {
    for (const op of ["sum", "max"] as const) {
      const got = k.reduce(op, x, shape, axes) as Float32Array;
      const want = reference(op, axes);
      // Sums of f32 rows accumulate in float64 on the last axis: compare to float32 rounding.
      got.forEach((g, i) =>
        assert.ok(
          Object.is(g, want[i]) || Math.abs(g - want[i]) <= 1e-5 * (1 + Math.abs(want[i])),
          `${op} [${axes}] at ${i}: ${g} vs ${want[i]}`,
        )
      );
    }
  }
});

/** Within `ulps` float32 ulps of `want` (NaN and infinities exactly). */
const near = (got: number, want: number, ulps = 1): boolean =>
  Object.is(got, want) || Math.abs(got - want) <= ulps * 2 ** -23 * Math.abs(want);

test("expFast is within one float32 ulp of Math.exp, and exact at the edges", () => {
  const xs = normal(foldIn(key, 31), 200_000).map((v) => v * 30);
  xs.forEach((x) => {
    const [got, want] = [Math.fround(expFast(x)), Math.fround(Math.exp(x))];
    assert.ok(near(got, want), `exp(${x}): ${got} vs ${want}`);
  });
  for (const x of [0, -0, 1, -87.5, 88.5, -103, -745.3, -1e9, 709, 710, Infinity, -Infinity]) {
    assert.ok(Object.is(expFast(x) === 0 ? 0 : 1, Math.exp(x) === 0 ? 0 : 1), `exp(${x}) zero`);
    assert.ok(near(expFast(x), Math.exp(x)), `exp(${x})`);
  }
  assert.ok(Number.isNaN(expFast(NaN)));
});

test("softmax and log-softmax of masked rows agree with the direct formula", () => {
  const [rows, n] = [8, 50];
  const x = randn(30, [rows, n]).map((v, i) => (i % n > (i / n) * 6 ? v - 1e9 : v * 3));
  x.fill(-Infinity, 7 * n, 8 * n); // an all -inf row, as the formula gives it
  const soft = k.softmax(x, [rows, n]) as Float32Array;
  const logSoft = k.logSoftmax(x, [rows, n]) as Float32Array;
  for (let r = 0; r < rows; r++) {
    const row = Array.from(x.subarray(r * n, (r + 1) * n));
    const top = Math.max(...row) === -Infinity ? 0 : Math.max(...row);
    const total = row.reduce((s, v) => s + Math.exp(v - top), 0);
    row.forEach((v, j) => {
      const [p, lp] = [Math.exp(v - top) / total, v - (top + Math.log(total))];
      // Softmax runs in float32 wasm SIMD: eˣ within 2 ulps, a float32 sum of n terms, and x − max
      // rounded to float32, which carries |x − max| ulps of relative error into its exponential.
      const ulps = 2 + Math.sqrt(n) / 2 + Math.abs(v - top);
      assert.ok(near(soft[r * n + j], p, ulps), `softmax ${soft[r * n + j]} vs ${p}`);
      assert.ok(near(logSoft[r * n + j], lp, 2) || Math.abs(logSoft[r * n + j] - lp) < 1e-6);
    });
  }
  assert.ok(soft.subarray(0, n).some((v) => v === 0), "masked scores weigh exactly 0");
});

test("disposed buffers are reused, a reshaped one only after its last handle is gone", () => {
  const n = 4096;
  const x = k.upload(randn(40, [n]), [n]);
  const y = k.reshape(x, [n], [64, 64]); // the same buffer under a second handle
  k.dispose(x);
  const other = k.unary("neg", y, [64, 64]);
  assert.not.ok(other === y, "a buffer still held by reshape's handle is not handed out");
  k.dispose(y);
  const reused = k.unary("exp", other, [64, 64]);
  assert.ok(reused === y, "the buffer freed by its last handle is the next of its size");
  const negated = other as Float32Array;
  (reused as Float32Array).forEach((v, i) =>
    assert.ok(near(v, Math.exp(negated[i])), "its values")
  );
  k.dispose(other);
  assert.throws(() => k.dispose(other), /released twice/);
});

test("a reused buffer comes back zeroed where a kernel accumulates into it", () => {
  const [rows, cols] = [64, 32];
  const dirty = k.fill([rows * cols], 7, "float32");
  k.dispose(dirty);
  const x = randn(41, [rows, cols]);
  const sums = k.reduce("sum", x, [rows, cols], [0]) as Float32Array; // 32 values: not pooled
  const scattered = k.scatterAdd(
    x,
    [rows, cols],
    Int32Array.from({ length: rows }, (_, i) => i),
    [rows],
    0,
    [rows, cols],
  ) as Float32Array;
  assert.ok(scattered === dirty, "the disposed buffer was reused");
  assert.equal(Array.from(scattered), Array.from(x));
  assert.is(sums.length, cols);
});

test.run();
