/**
 * Finite-difference check of every VJP rule in lib/autodiff/ops.ts on the ts backend.
 *
 * Each case is a function of float32 parameters; its loss is Σ w ⊙ f(params) with fixed random
 * weights w, summed on the host in float64. The numeric gradient is a central difference of
 * that loss (step EPS); elementwise ops are also checked against closed-form float64
 * derivatives. Inputs are drawn away from kinks (abs/relu at 0, ties in max/maximum, clip
 * bounds) by more than EPS. The last test makes sure every op exported by ops.ts has a case
 * here or is listed as gradient-free, so a new op cannot ship without a check.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as ops from "../../lib/autodiff/ops.ts";
import { valueAndGrad } from "../../lib/autodiff/grad.ts";
import { scope, type Tensor, tensor, toArraySync } from "../../lib/autodiff/tensor.ts";
import { type Backend, tsBackend } from "../../lib/tensor/backends.ts";
import type { Shape } from "../../lib/tensor/kernels.ts";
import { sizeOf } from "../../lib/tensor/shape.ts";
import { foldIn, type Key, normal, permutation, prngKey, uniform } from "../../lib/random/prng.ts";

const EPS = 1e-2;
const ATOL = 2e-3;
const RTOL = 1e-2;

type Params = Record<string, Tensor>;
interface Case {
  /** The ops.ts export this case is there to check. */
  readonly op: keyof typeof ops;
  readonly name: string;
  readonly params: Record<string, Float32Array | readonly [Shape, Float32Array]>;
  readonly f: (p: Params) => Tensor;
}

const root = prngKey(20250415);
let draws = 0;
/** A fresh key per draw, in program order, so every run sees the same inputs. */
const nextKey = (): Key => foldIn(root, draws++);

const within = (shape: Shape, lo: number, hi: number): readonly [Shape, Float32Array] => [
  shape,
  uniform(nextKey(), sizeOf(shape), lo, hi),
];
const gaussian = (
  shape: Shape,
): readonly [Shape, Float32Array] => [shape, normal(nextKey(), sizeOf(shape))];
/** Magnitude in [0.2, 1.5] with a random sign: clear of kinks at zero. */
const awayFromZero = (shape: Shape): readonly [Shape, Float32Array] => {
  const mag = uniform(nextKey(), sizeOf(shape), 0.2, 1.5);
  const sign = uniform(nextKey(), sizeOf(shape));
  return [shape, mag.map((m, i) => (sign[i] < 0.5 ? -m : m))];
};
/** Distinct values at least 0.08 apart (no ties for max). */
const distinct = (shape: Shape): readonly [Shape, Float32Array] => {
  const n = sizeOf(shape);
  const perm = permutation(nextKey(), n);
  const jitter = uniform(nextKey(), n, 0, 0.02);
  return [shape, Float32Array.from(perm, (p, i) => (p - n / 2) * 0.1 + jitter[i])];
};
/** b = a ± [0.2, 1]: every pair clearly ordered, for maximum/minimum. */
const apart = (a: readonly [Shape, Float32Array]): readonly [Shape, Float32Array] => {
  const [shape, gap] = awayFromZero(a[0]);
  return [shape, a[1].map((x, i) => x + gap[i])];
};
const ints = (shape: Shape, values: readonly number[]): Tensor =>
  tensor(tsBackend, values, shape, "int32");
const mask = (shape: Shape, values: readonly number[]): Tensor => tensor(tsBackend, values, shape);

const xTimesExp = ops.customVjp(
  (x: Tensor, y: Tensor) => ({ output: ops.mul(x, ops.exp(y)), aux: null }),
  ([x, y], g, needs) => [
    needs[0] ? ops.mul(g, ops.exp(y)) : null,
    needs[1] ? ops.mul(g, ops.mul(x, ops.exp(y))) : null,
  ],
);

const x234 = gaussian([2, 3, 4]);
const maxA = gaussian([3, 4]);
const cases: Case[] = [
  // Shape plumbing
  {
    op: "reshape",
    name: "[2,3,4] -> [4,-1]",
    params: { x: x234 },
    f: (p) => ops.reshape(p.x, [4, -1]),
  },
  { op: "transpose", name: "reverse axes", params: { x: x234 }, f: (p) => ops.transpose(p.x) },
  {
    op: "transpose",
    name: "perm [1,2,0]",
    params: { x: x234 },
    f: (p) => ops.transpose(p.x, [1, 2, 0]),
  },
  {
    op: "slice",
    name: "[4,5] begin [1,2] size [2,-1]",
    params: { x: gaussian([4, 5]) },
    f: (p) => ops.slice(p.x, [1, 2], [2, -1]),
  },
  {
    op: "pad",
    name: "[2,3] pad [[1,0],[2,1]]",
    params: { x: gaussian([2, 3]) },
    f: (p) => ops.pad(p.x, [[1, 0], [2, 1]]),
  },
  {
    op: "concat",
    name: "three tensors on axis 1",
    params: { a: gaussian([2, 1]), b: gaussian([2, 3]), c: gaussian([2, 2]) },
    f: (p) => ops.concat([p.a, p.b, p.c], 1),
  },
  {
    op: "concat",
    name: "same tensor twice, axis 0",
    params: { a: gaussian([2, 3]) },
    f: (p) => ops.concat([p.a, p.a], 0),
  },
  {
    op: "stack",
    name: "axis 1",
    params: { a: gaussian([2, 3]), b: gaussian([2, 3]) },
    f: (p) => ops.stack([p.a, p.b], 1),
  },
  {
    op: "expandDims",
    name: "axis -1",
    params: { x: gaussian([2, 3]) },
    f: (p) => ops.expandDims(p.x, -1),
  },
  {
    op: "broadcastTo",
    name: "[3,1] -> [2,3,4]",
    params: { x: gaussian([3, 1]) },
    f: (p) => ops.broadcastTo(p.x, [2, 3, 4]),
  },
  {
    op: "unbroadcast",
    name: "[2,3,4] -> [3,1]",
    params: { x: x234 },
    f: (p) => ops.unbroadcast(p.x, [3, 1]),
  },
  // Elementwise unary
  { op: "neg", name: "", params: { x: gaussian([5]) }, f: (p) => ops.neg(p.x) },
  { op: "exp", name: "", params: { x: within([5], -2, 2) }, f: (p) => ops.exp(p.x) },
  { op: "log", name: "", params: { x: within([5], 0.5, 3) }, f: (p) => ops.log(p.x) },
  { op: "sqrt", name: "", params: { x: within([5], 0.5, 3) }, f: (p) => ops.sqrt(p.x) },
  { op: "rsqrt", name: "", params: { x: within([5], 0.5, 3) }, f: (p) => ops.rsqrt(p.x) },
  { op: "square", name: "", params: { x: gaussian([5]) }, f: (p) => ops.square(p.x) },
  { op: "abs", name: "", params: { x: awayFromZero([6]) }, f: (p) => ops.abs(p.x) },
  { op: "sigmoid", name: "", params: { x: within([5], -3, 3) }, f: (p) => ops.sigmoid(p.x) },
  { op: "tanh", name: "", params: { x: within([5], -2, 2) }, f: (p) => ops.tanh(p.x) },
  { op: "relu", name: "", params: { x: awayFromZero([6]) }, f: (p) => ops.relu(p.x) },
  { op: "silu", name: "", params: { x: within([5], -3, 3) }, f: (p) => ops.silu(p.x) },
  // Elementwise binary, with broadcasting and number operands
  {
    op: "add",
    name: "[2,3,1] + [4]",
    params: { a: gaussian([2, 3, 1]), b: gaussian([4]) },
    f: (p) => ops.add(p.a, p.b),
  },
  { op: "add", name: "x + x", params: { a: gaussian([3]) }, f: (p) => ops.add(p.a, p.a) },
  {
    op: "sub",
    name: "[3,1] - [1,4]",
    params: { a: gaussian([3, 1]), b: gaussian([1, 4]) },
    f: (p) => ops.sub(p.a, p.b),
  },
  { op: "sub", name: "1 - x", params: { a: gaussian([3]) }, f: (p) => ops.sub(1, p.a) },
  {
    op: "mul",
    name: "[2,3,4] * [3,1]",
    params: { a: x234, b: gaussian([3, 1]) },
    f: (p) => ops.mul(p.a, p.b),
  },
  { op: "mul", name: "x * 2.5", params: { a: gaussian([3]) }, f: (p) => ops.mul(p.a, 2.5) },
  {
    op: "div",
    name: "[4] / [2,1]",
    params: { a: gaussian([4]), b: within([2, 1], 0.5, 2) },
    f: (p) => ops.div(p.a, p.b),
  },
  { op: "div", name: "2 / x", params: { a: within([4], 0.5, 2) }, f: (p) => ops.div(2, p.a) },
  {
    op: "maximum",
    name: "same shape",
    params: { a: maxA, b: apart(maxA) },
    f: (p) => ops.maximum(p.a, p.b),
  },
  {
    op: "maximum",
    name: "x and 0 (relu-like)",
    params: { a: awayFromZero([6]) },
    f: (p) => ops.maximum(p.a, 0),
  },
  {
    op: "minimum",
    name: "same shape",
    params: { a: maxA, b: apart(maxA) },
    f: (p) => ops.minimum(p.a, p.b),
  },
  {
    op: "pow",
    name: "[3,2] ** [2] (both grads)",
    params: { a: within([3, 2], 0.5, 2), b: within([2], -1.5, 1.5) },
    f: (p) => ops.pow(p.a, p.b),
  },
  { op: "pow", name: "x ** 3", params: { a: within([4], 0.5, 2) }, f: (p) => ops.pow(p.a, 3) },
  {
    op: "clip",
    name: "[-0.5, 0.7] (values off the bounds)",
    params: { x: [[6], Float32Array.from([-1.2, -0.3, 0.1, 0.45, 0.9, 2])] },
    f: (p) => ops.clip(p.x, -0.5, 0.7),
  },
  {
    op: "where",
    name: "cond [3,1], a [3,4], b [4]",
    params: { a: gaussian([3, 4]), b: gaussian([4]) },
    f: (p) => ops.where(mask([3, 1], [1, 0, 1]), p.a, p.b),
  },
  {
    op: "where",
    name: "number branch",
    params: { a: gaussian([2, 3]) },
    f: (p) => ops.where(mask([2, 3], [1, 0, 0, 1, 1, 0]), p.a, -1),
  },
  // Reductions
  { op: "sum", name: "all axes", params: { x: x234 }, f: (p) => ops.sum(p.x) },
  {
    op: "sum",
    name: "axes [0,2] keepDims",
    params: { x: x234 },
    f: (p) => ops.sum(p.x, [0, 2], true),
  },
  { op: "sum", name: "axis -2", params: { x: x234 }, f: (p) => ops.sum(p.x, -2) },
  { op: "mean", name: "axis 1", params: { x: x234 }, f: (p) => ops.mean(p.x, 1) },
  {
    op: "mean",
    name: "all, keepDims",
    params: { x: x234 },
    f: (p) => ops.mean(p.x, undefined, true),
  },
  { op: "max", name: "axis 1", params: { x: distinct([3, 5]) }, f: (p) => ops.max(p.x, 1) },
  {
    op: "max",
    name: "axes [0,1] keepDims",
    params: { x: distinct([2, 3, 2]) },
    f: (p) => ops.max(p.x, [0, 1], true),
  },
  {
    op: "logSumExp",
    name: "last axis",
    params: { x: gaussian([3, 5]) },
    f: (p) => ops.logSumExp(p.x),
  },
  {
    op: "logSumExp",
    name: "axis 0 keepDims",
    params: { x: gaussian([3, 5]) },
    f: (p) => ops.logSumExp(p.x, 0, true),
  },
  { op: "softmax", name: "[3,5]", params: { x: gaussian([3, 5]) }, f: (p) => ops.softmax(p.x) },
  { op: "cumsum", name: "[2,3,4]", params: { x: gaussian([2, 3, 4]) }, f: (p) => ops.cumsum(p.x) },
  {
    op: "logSoftmax",
    name: "[2,2,4]",
    params: { x: gaussian([2, 2, 4]) },
    f: (p) => ops.logSoftmax(p.x),
  },
  // Linear algebra and indexing
  ...([[false, false], [true, false], [false, true], [true, true]] as const).map((
    [tA, tB],
  ): Case => ({
    op: "matmul",
    name: `transposeA=${tA} transposeB=${tB}`,
    params: { a: gaussian(tA ? [4, 3] : [3, 4]), b: gaussian(tB ? [5, 4] : [4, 5]) },
    f: (p) => ops.matmul(p.a, p.b, { transposeA: tA, transposeB: tB }),
  })),
  {
    op: "matmul",
    name: "batched [2,3,4] x [2,5,4]^T",
    params: { a: gaussian([2, 3, 4]), b: gaussian([2, 5, 4]) },
    f: (p) => ops.matmul(p.a, p.b, { transposeB: true }),
  },
  {
    op: "matmul",
    name: "shared rhs [2,3,4] x [4,5]",
    params: { a: gaussian([2, 3, 4]), b: gaussian([4, 5]) },
    f: (p) => ops.matmul(p.a, p.b),
  },
  {
    op: "matmul",
    name: "shared rhs, transposeA [2,4,3]^T x [4,5]",
    params: { a: gaussian([2, 4, 3]), b: gaussian([4, 5]) },
    f: (p) => ops.matmul(p.a, p.b, { transposeA: true }),
  },
  {
    op: "gather",
    name: "axis 0, repeated indices",
    params: { x: gaussian([5, 3]) },
    f: (p) => ops.gather(p.x, ints([6], [2, 0, 2, 4, 2, 0]), 0),
  },
  {
    op: "gather",
    name: "axis 1, 2-D indices",
    params: { x: gaussian([2, 4, 3]) },
    f: (p) => ops.gather(p.x, ints([2, 2], [3, 1, 1, 1]), 1),
  },
  {
    op: "scatterAdd",
    name: "repeated indices sum",
    params: { u: gaussian([4, 2]) },
    f: (p) => ops.scatterAdd(p.u, ints([4], [1, 1, 3, 1]), 0, [5, 2]),
  },
  // A fused op with its own rule: x · exp(y), d/dx = exp(y), d/dy = x · exp(y).
  {
    op: "customVjp",
    name: "x · exp(y)",
    params: { x: gaussian([2, 3]), y: within([2, 3], -1, 1) },
    f: (p) => xTimesExp(p.x, p.y).output,
  },
];

/** Ops whose outputs carry no gradient (masks, integer casts, stopGradient); checked below. */
const gradientFree = [
  "step",
  "sign",
  "compare",
  "greater",
  "less",
  "equal",
  "cast",
  "stopGradient",
] as const;

const toParams = (c: Case): Params =>
  Object.fromEntries(
    Object.entries(c.params).map(([k, v]) => {
      const [shape, data] = v instanceof Float32Array ? [[v.length], v] : v;
      return [k, tensor(tsBackend, data, shape)];
    }),
  );

/** Σ w ⊙ f(values) in float64 on the host. */
const weightedSum = (y: Tensor, w: Float32Array): number => {
  const v = toArraySync(y);
  let s = 0;
  for (let i = 0; i < v.length; i++) s += w[i] * v[i];
  return s;
};

/** Central differences of Σ w ⊙ f(p) for every element of every parameter. */
const numericGrads = (c: Case, p: Params, w: Float32Array): Record<string, Float64Array> =>
  Object.fromEntries(
    Object.entries(p).map(([name, t]) => {
      const base = toArraySync(t) as Float32Array;
      const g = new Float64Array(base.length);
      const at = (i: number, x: number): [number, number] => {
        const moved = Float32Array.from(base);
        moved[i] = x;
        const value = scope(() =>
          weightedSum(c.f({ ...p, [name]: tensor(tsBackend, moved, t.shape) }), w)
        );
        return [moved[i], value]; // the float32 point actually evaluated
      };
      for (let i = 0; i < base.length; i++) {
        const [xp, fp] = at(i, base[i] + EPS);
        const [xm, fm] = at(i, base[i] - EPS);
        g[i] = (fp - fm) / (xp - xm);
      }
      return [name, g];
    }),
  );

const analyticGrads = (c: Case, p: Params, wt: Tensor): Record<string, Float32Array> => {
  const { value, grads } = valueAndGrad((q: Params) => ops.sum(ops.mul(c.f(q), wt)))(p);
  value.dispose();
  return Object.fromEntries(
    Object.entries(grads).map(([k, g]) => [k, toArraySync(g) as Float32Array]),
  );
};

const assertClose = (
  what: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  atol: number,
  rtol: number,
): void => {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= atol + rtol * Math.abs(want[i]))) {
      assert.unreachable(
        `${what}[${i}]: analytic ${got[i]} vs reference ${want[i]} (|diff| ${
          err.toExponential(2)
        })`,
      );
    }
  }
};

cases.forEach((c) => {
  test(`${c.op}${c.name ? ` (${c.name})` : ""}: VJP matches central differences`, () => {
    scope(() => {
      const p = toParams(c);
      const out = c.f(p);
      const w = normal(nextKey(), out.size);
      const wt = tensor(tsBackend, w, out.shape);
      const analytic = analyticGrads(c, p, wt);
      const numeric = numericGrads(c, p, w);
      Object.keys(p).forEach((k) =>
        assertClose(`${c.op} d/d${k}`, analytic[k], numeric[k], ATOL, RTOL)
      );
    });
  });
});

// Closed-form float64 derivatives of the elementwise ops, a tighter reference than differences.
const sigmoid64 = (x: number) => 1 / (1 + Math.exp(-x));
const unaryDerivatives: Record<string, (x: number) => number> = {
  neg: () => -1,
  exp: (x) => Math.exp(x),
  log: (x) => 1 / x,
  sqrt: (x) => 0.5 / Math.sqrt(x),
  rsqrt: (x) => -0.5 * x ** -1.5,
  square: (x) => 2 * x,
  abs: (x) => Math.sign(x),
  sigmoid: (x) => sigmoid64(x) * (1 - sigmoid64(x)),
  tanh: (x) => 1 - Math.tanh(x) ** 2,
  relu: (x) => (x > 0 ? 1 : 0),
  silu: (x) => sigmoid64(x) * (1 + x * (1 - sigmoid64(x))),
};
Object.entries(unaryDerivatives).forEach(([op, d]) => {
  test(`${op}: gradient matches the float64 closed form`, () => {
    scope(() => {
      const [shape, x] = op === "log" || op === "sqrt" || op === "rsqrt"
        ? within([8], 0.3, 3)
        : awayFromZero([8]);
      const f = (ops as unknown as Record<string, (t: Tensor) => Tensor>)[op];
      const { grads } = valueAndGrad((t: Tensor) => ops.sum(f(t)))(tensor(tsBackend, x, shape));
      assertClose(op, toArraySync(grads), Array.from(x, d), 1e-6, 1e-5);
    });
  });
});

const binaryPartials: Record<string, (a: number, b: number) => readonly [number, number]> = {
  add: () => [1, 1],
  sub: () => [1, -1],
  mul: (a, b) => [b, a],
  div: (a, b) => [1 / b, -a / (b * b)],
  pow: (a, b) => [b * a ** (b - 1), a ** b * Math.log(a)],
  maximum: (a, b) => (a >= b ? [1, 0] : [0, 1]),
  minimum: (a, b) => (a <= b ? [1, 0] : [0, 1]),
};
Object.entries(binaryPartials).forEach(([op, d]) => {
  test(`${op}: both partials match the float64 closed form`, () => {
    scope(() => {
      const [shape, a] = within([8], 0.5, 2);
      const [, b] = op === "pow" ? within([8], -1.5, 1.5) : apart([shape, a]);
      const f = (ops as unknown as Record<string, (x: Tensor, y: Tensor) => Tensor>)[op];
      const { grads } = valueAndGrad((p: Params) => ops.sum(f(p.a, p.b)))({
        a: tensor(tsBackend, a, shape),
        b: tensor(tsBackend, b, shape),
      });
      assertClose(
        `${op} d/da`,
        toArraySync(grads.a),
        Array.from(a, (x, i) => d(x, b[i])[0]),
        1e-6,
        1e-5,
      );
      assertClose(
        `${op} d/db`,
        toArraySync(grads.b),
        Array.from(a, (x, i) => d(x, b[i])[1]),
        1e-6,
        1e-5,
      );
    });
  });
});

test("max: tied maxima share the gradient evenly", () => {
  scope(() => {
    const x = tensor(tsBackend, [1, 3, 3, 2, 5, 0], [2, 3]);
    const { grads } = valueAndGrad((t: Tensor) => ops.sum(ops.max(t, 1)))(x);
    assert.equal(Array.from(toArraySync(grads)), [0, 0.5, 0.5, 0, 1, 0]);
  });
});

test("gradient-free ops give zero gradients", () => {
  scope(() => {
    const x = tensor(tsBackend, [-1.5, 0.5, 2], [3]);
    const through: Record<(typeof gradientFree)[number], (t: Tensor) => Tensor> = {
      step: (t) => ops.step(t),
      sign: (t) => ops.sign(t),
      compare: (t) => ops.compare("greaterEqual", t, 0.5),
      greater: (t) => ops.greater(t, 0),
      less: (t) => ops.less(t, 0),
      equal: (t) => ops.equal(t, 0.5),
      cast: (t) => ops.cast(ops.cast(t, "int32"), "float32"),
      stopGradient: (t) => ops.stopGradient(t),
    };
    Object.entries(through).forEach(([name, f]) => {
      const { grads } = valueAndGrad((t: Tensor) => ops.sum(ops.mul(f(t), 3)))(x);
      assert.equal(Array.from(toArraySync(grads)), [0, 0, 0], name);
    });
    // Only the traced factor contributes: d/dx Σ x · stop(x) = x, not 2x.
    const { grads } = valueAndGrad((t: Tensor) => ops.sum(ops.mul(t, ops.stopGradient(t))))(x);
    assert.equal(Array.from(toArraySync(grads)), [-1.5, 0.5, 2], "x * stopGradient(x)");
  });
});

test("cumsum runs along the last axis of each row", () => {
  scope(() => {
    const x = tensor(tsBackend, [1, 2, 3, 10, 20, 30], [2, 3]);
    assert.equal(Array.from(toArraySync(ops.cumsum(x))), [1, 3, 6, 10, 30, 60]);
  });
});

test("maximum, minimum and pow make no gradient for a frozen operand", () => {
  const calls: string[] = [];
  const counting: Backend = {
    ...tsBackend,
    kernels: {
      ...tsBackend.kernels,
      unary: (op, x, shape) => (calls.push(op), tsBackend.kernels.unary(op, x, shape)),
      binary: (op, ...rest) => (calls.push(op), tsBackend.kernels.binary(op, ...rest)),
    },
  };
  scope(() => {
    const x = tensor(counting, [0.5, 1.5, 2], [3]);
    const frozen = tensor(counting, [1, 1, 3], [3]);
    const kernelsOf = (f: (t: Tensor) => Tensor) => {
      calls.length = 0;
      valueAndGrad((t: Tensor) => ops.sum(f(t)))(x);
      return [...calls];
    };
    // The frozen side's rules would need log(x) (pow) and 1 − mask (maximum, minimum).
    assert.not.ok(kernelsOf((t) => ops.pow(t, frozen)).includes("log"), "pow");
    assert.not.ok(kernelsOf((t) => ops.maximum(t, frozen)).includes("sub"), "maximum");
    assert.not.ok(kernelsOf((t) => ops.minimum(t, frozen)).includes("sub"), "minimum");
    // ...and they do make it once the operand is traced.
    assert.ok(kernelsOf((t) => ops.pow(frozen, t)).includes("log"), "pow's exponent");
  });
});

test("every op in ops.ts has a gradient check or is listed as gradient-free", () => {
  const covered = new Set<string>([...cases.map((c) => c.op), ...gradientFree]);
  const missing = Object.keys(ops).filter((name) => !covered.has(name));
  assert.equal(missing, [], `ops without a gradient check: ${missing.join(", ")}`);
});

test.run();
