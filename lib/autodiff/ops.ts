/**
 * The one op surface. Each op checks shapes, runs a backend's forward kernel, and records its
 * primitive on the tape; the gradients are the rules of vjp.ts, written in these same ops, so
 * every backend shares one set of gradients. Numbers are accepted wherever a tensor operand is
 * (broadcast scalars). Fused ops with their own gradient are made with `customVjp`.
 */
import type { BinaryOp, CompareOp, DType, ReduceOp, Shape, UnaryOp } from "../tensor/kernels.ts";
import {
  broadcastShapes,
  fmt,
  matmulShape,
  normalizeAxes,
  normalizeAxis,
  sameShape,
  sizeOf,
} from "../tensor/shape.ts";
import { record, untraced, type Vjp } from "./tape.ts";
import type { Backend } from "../tensor/backends.ts";
import { assertAlive, fill, Tensor } from "./tensor.ts";

type Operand = Tensor | number;

const backendOf = (op: string, ...xs: Operand[]): Backend => {
  const ts = xs.filter((x): x is Tensor => x instanceof Tensor);
  if (ts.length === 0) throw new Error(`${op}: needs at least one tensor operand`);
  ts.forEach((t) => assertAlive(op, t));
  const b = ts[0].backend;
  const other = ts.find((t) => t.backend !== b);
  if (other) {
    throw new Error(`${op}: tensors on different backends (${b.name} and ${other.backend.name})`);
  }
  return b;
};

const lift = (b: Backend, x: Operand, dtype: DType): Tensor =>
  x instanceof Tensor ? x : fill(b, [], x, dtype);

const make = (b: Backend, handle: unknown, shape: Shape, dtype: DType): Tensor =>
  new Tensor(b, handle, shape, dtype);

const requireFloat = (op: string, t: Tensor): void => {
  if (t.dtype !== "float32") {
    throw new Error(`${op}: expected float32, got ${t.dtype} ${fmt(t.shape)}`);
  }
};

// ---------------------------------------------------------------------------------------------
// Shape plumbing

/** Sums g over the axes that broadcasting added to reach g's shape from `shape`. */
export const unbroadcast = (g: Tensor, shape: Shape): Tensor => {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes = g.shape.map((_, i) => i).filter((i) =>
    i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)
  );
  return reshape(sum(g, axes, true), shape);
};

/** The same values in a new shape (same element count). */
export const reshape = (x: Tensor, shape: Shape): Tensor => {
  const b = backendOf("reshape", x);
  const known = shape.filter((d) => d !== -1);
  const inferred = shape.map((d) => (d === -1 ? x.size / Math.max(1, sizeOf(known)) : d));
  if (
    shape.filter((d) => d === -1).length > 1 || sizeOf(inferred) !== x.size ||
    !inferred.every(Number.isInteger)
  ) {
    throw new Error(`reshape: cannot reshape ${fmt(x.shape)} (${x.size} values) to ${fmt(shape)}`);
  }
  if (sameShape(inferred, x.shape)) return x;
  const out = make(b, b.kernels.reshape(x.handle, x.shape, inferred), inferred, x.dtype);
  return record("reshape", out, [x], null);
};

/** Axes permuted by `perm` (default: reversed). */
export const transpose = (x: Tensor, perm?: readonly number[]): Tensor => {
  const b = backendOf("transpose", x);
  const p = perm ?? x.shape.map((_, i) => x.rank - 1 - i);
  if (p.length !== x.rank || [...p].sort((a, c) => a - c).some((v, i) => v !== i)) {
    throw new Error(
      `transpose: perm [${p.join(", ")}] is not a permutation of the axes of ${fmt(x.shape)}`,
    );
  }
  const shape = p.map((i) => x.shape[i]);
  const out = make(b, b.kernels.transpose(x.handle, x.shape, p), shape, x.dtype);
  return record("transpose", out, [x], { perm: p });
};

/** The block of `size` starting at `begin` (-1 in size: to the end of that axis). */
export const slice = (x: Tensor, begin: readonly number[], size: readonly number[]): Tensor => {
  const b = backendOf("slice", x);
  const sz = size.map((s, i) => (s === -1 ? x.shape[i] - begin[i] : s));
  if (
    begin.length !== x.rank || sz.length !== x.rank ||
    sz.some((s, i) => begin[i] < 0 || s < 0 || begin[i] + s > x.shape[i])
  ) {
    throw new Error(
      `slice: begin [${begin.join(", ")}] size [${size.join(", ")}] out of bounds for ${
        fmt(x.shape)
      }`,
    );
  }
  const out = make(b, b.kernels.slice(x.handle, x.shape, begin, sz), sz, x.dtype);
  return record("slice", out, [x], { begin, size: sz });
};

/** Zeros added before/after each axis, by `paddings` [before, after] per axis. */
export const pad = (x: Tensor, paddings: readonly (readonly [number, number])[]): Tensor => {
  const b = backendOf("pad", x);
  if (paddings.length !== x.rank || paddings.some(([l, r]) => l < 0 || r < 0)) {
    throw new Error(`pad: paddings ${JSON.stringify(paddings)} do not fit ${fmt(x.shape)}`);
  }
  const shape = x.shape.map((d, i) => d + paddings[i][0] + paddings[i][1]);
  const out = make(b, b.kernels.pad(x.handle, x.shape, paddings), shape, x.dtype);
  return record("pad", out, [x], { paddings });
};

/** Tensors joined along an existing axis. */
export const concat = (xs: readonly Tensor[], axis: number): Tensor => {
  if (xs.length === 0) throw new Error("concat: needs at least one tensor");
  const b = backendOf("concat", ...xs);
  const ax = normalizeAxis("concat", axis, xs[0].rank);
  const bad = xs.find((t) =>
    t.rank !== xs[0].rank || t.shape.some((d, i) => i !== ax && d !== xs[0].shape[i])
  );
  if (bad) {
    throw new Error(
      `concat: shapes ${xs.map((t) => fmt(t.shape)).join(", ")} differ off axis ${ax}`,
    );
  }
  if (xs.length === 1) return xs[0];
  const shape = xs[0].shape.map((d, i) => (i === ax ? xs.reduce((s, t) => s + t.shape[ax], 0) : d));
  const out = make(
    b,
    b.kernels.concat(xs.map((t) => t.handle), xs.map((t) => t.shape), ax),
    shape,
    xs[0].dtype,
  );
  return record("concat", out, xs, { axis: ax });
};

/** Tensors of one shape joined along a new axis. */
export const stack = (xs: readonly Tensor[], axis = 0): Tensor =>
  concat(xs.map((t) => expandDims(t, axis)), axis);

/** A new axis of size 1 inserted at `axis`. */
export const expandDims = (x: Tensor, axis: number): Tensor => {
  const ax = axis < 0 ? x.rank + 1 + axis : axis;
  return reshape(x, [...x.shape.slice(0, ax), 1, ...x.shape.slice(ax)]);
};

/** Repeated along size-1 (or missing leading) axes to `shape`; the gradient sums back. */
export const broadcastTo = (x: Tensor, shape: Shape): Tensor => {
  const b = backendOf("broadcastTo", x);
  const out = broadcastShapes("broadcastTo", x.shape, shape);
  if (!sameShape(out, shape)) {
    throw new Error(`broadcastTo: ${fmt(x.shape)} does not broadcast to ${fmt(shape)}`);
  }
  if (sameShape(x.shape, shape)) return x;
  const t = make(b, b.kernels.broadcastTo(x.handle, x.shape, shape), shape, x.dtype);
  return record("broadcastTo", t, [x], null);
};

// ---------------------------------------------------------------------------------------------
// Elementwise

const unary = (op: Exclude<UnaryOp, "step">, x: Tensor): Tensor => {
  const b = backendOf(op, x);
  requireFloat(op, x);
  const out = make(b, b.kernels.unary(op, x.handle, x.shape), x.shape, "float32");
  return record(op, out, [x], null);
};

/** Elementwise −x. */
export const neg = (x: Tensor): Tensor => unary("neg", x);
/** Elementwise eˣ. */
export const exp = (x: Tensor): Tensor => unary("exp", x);
/** Elementwise natural logarithm. */
export const log = (x: Tensor): Tensor => unary("log", x);
/** Elementwise square root. */
export const sqrt = (x: Tensor): Tensor => unary("sqrt", x);
/** Elementwise 1/√x. */
export const rsqrt = (x: Tensor): Tensor => unary("rsqrt", x);
/** Elementwise x². */
export const square = (x: Tensor): Tensor => unary("square", x);
/** Elementwise |x|. */
export const abs = (x: Tensor): Tensor => unary("abs", x);
/** Elementwise 1/(1 + e⁻ˣ). */
export const sigmoid = (x: Tensor): Tensor => unary("sigmoid", x);
/** Elementwise hyperbolic tangent. */
export const tanh = (x: Tensor): Tensor => unary("tanh", x);
/** Elementwise max(x, 0). */
export const relu = (x: Tensor): Tensor => unary("relu", x);
/** x · sigmoid(x). */
export const silu = (x: Tensor): Tensor => unary("silu", x);
/** 1 where x > 0, else 0 (no gradient). */
export const step = (x: Tensor): Tensor => {
  const b = backendOf("step", x);
  return make(b, b.kernels.unary("step", x.handle, x.shape), x.shape, "float32");
};
/** Elementwise −1, 0 or 1. */
export const sign = (x: Tensor): Tensor => sub(step(x), step(neg(x)));

const binary = (op: BinaryOp, a: Operand, c: Operand): Tensor => {
  const be = backendOf(op, a, c);
  const dtype = a instanceof Tensor ? a.dtype : (c as Tensor).dtype;
  const ta = lift(be, a, dtype);
  const tb = lift(be, c, dtype);
  if (ta.dtype !== tb.dtype) {
    throw new Error(
      `${op}: dtypes differ (${ta.dtype} ${fmt(ta.shape)} and ${tb.dtype} ${fmt(tb.shape)})`,
    );
  }
  const shape = broadcastShapes(op, ta.shape, tb.shape);
  const out = make(
    be,
    be.kernels.binary(op, ta.handle, ta.shape, tb.handle, tb.shape, shape, dtype),
    shape,
    dtype,
  );
  return record(op, out, [ta, tb], null);
};

/** Elementwise a + b, broadcasting (numbers act as scalars). */
export const add = (a: Operand, b: Operand): Tensor => binary("add", a, b);
/** Elementwise a − b, broadcasting. */
export const sub = (a: Operand, b: Operand): Tensor => binary("sub", a, b);
/** Elementwise a · b, broadcasting. */
export const mul = (a: Operand, b: Operand): Tensor => binary("mul", a, b);
/** Elementwise a / b, broadcasting. */
export const div = (a: Operand, b: Operand): Tensor => binary("div", a, b);
/** Elementwise max; the gradient goes to a on ties. */
export const maximum = (a: Operand, b: Operand): Tensor => binary("maximum", a, b);
/** Elementwise min; the gradient goes to a on ties. */
export const minimum = (a: Operand, b: Operand): Tensor => binary("minimum", a, b);
/** Elementwise aᵇ, broadcasting. */
export const pow = (a: Operand, b: Operand): Tensor => binary("pow", a, b);
/** Values limited to [lo, hi]. */
export const clip = (x: Tensor, lo: number, hi: number): Tensor => minimum(maximum(x, lo), hi);

/** A float32 0/1 mask; comparisons carry no gradient. */
export const compare = (op: CompareOp, a: Operand, c: Operand): Tensor => {
  const be = backendOf(op, a, c);
  const dtype = a instanceof Tensor ? a.dtype : (c as Tensor).dtype;
  const ta = lift(be, a, dtype);
  const tb = lift(be, c, dtype);
  const shape = broadcastShapes(op, ta.shape, tb.shape);
  return make(
    be,
    be.kernels.compare(op, ta.handle, ta.shape, tb.handle, tb.shape, shape),
    shape,
    "float32",
  );
};
/** 1 where a > b, else 0 (no gradient). */
export const greater = (a: Operand, b: Operand): Tensor => compare("greater", a, b);
/** 1 where a < b, else 0 (no gradient). */
export const less = (a: Operand, b: Operand): Tensor => compare("less", a, b);
/** 1 where a = b, else 0 (no gradient). */
export const equal = (a: Operand, b: Operand): Tensor => compare("equal", a, b);

/** cond ? a : b, where cond is a 0/1 mask. */
export const where = (cond: Tensor, a: Operand, c: Operand): Tensor => {
  const be = backendOf("where", cond, a, c);
  const ta = lift(be, a, "float32");
  const tb = lift(be, c, "float32");
  const shape = broadcastShapes("where", broadcastShapes("where", cond.shape, ta.shape), tb.shape);
  const h = be.kernels.where(
    cond.handle,
    cond.shape,
    ta.handle,
    ta.shape,
    tb.handle,
    tb.shape,
    shape,
  );
  const out = make(be, h, shape, ta.dtype);
  return record("where", out, [ta, tb], { cond });
};

/** The values converted to `dtype` (to int32 truncates; no gradient through int32). */
export const cast = (x: Tensor, dtype: DType): Tensor => {
  const b = backendOf("cast", x);
  if (x.dtype === dtype) return x;
  return make(b, b.kernels.cast(x.handle, x.shape, x.dtype, dtype), x.shape, dtype);
};

/** The same values, cut off from the tape. */
export const stopGradient = (x: Tensor): Tensor => {
  const b = backendOf("stopGradient", x);
  return make(b, b.kernels.reshape(x.handle, x.shape, x.shape), x.shape, x.dtype);
};

// ---------------------------------------------------------------------------------------------
// Reductions

const keptShape = (shape: Shape, axes: readonly number[]): number[] =>
  shape.map((d, i) => (axes.includes(i) ? 1 : d));
const droppedShape = (shape: Shape, axes: readonly number[]): number[] =>
  shape.filter((_, i) => !axes.includes(i));

const reduce = (
  op: ReduceOp,
  x: Tensor,
  axes: number | readonly number[] | undefined,
  keepDims: boolean,
): Tensor => {
  const b = backendOf(op, x);
  const ax = normalizeAxes(op, axes, x.rank);
  const kept = keptShape(x.shape, ax);
  const raw = make(b, b.kernels.reduce(op, x.handle, x.shape, ax), kept, "float32");
  const out = record(op, raw, [x], { axes: ax });
  return keepDims ? out : reshape(out, droppedShape(x.shape, ax));
};

/** Sum over `axes` (default: all). */
export const sum = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor =>
  reduce("sum", x, axes, keepDims);

/** Mean over `axes` (default: all). */
export const mean = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor => {
  const ax = normalizeAxes("mean", axes, x.rank);
  const count = ax.reduce((p, a) => p * x.shape[a], 1);
  return div(sum(x, ax, keepDims), count);
};

/** Max over axes; the gradient is shared evenly among tied maxima. */
export const max = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor =>
  reduce("max", x, axes, keepDims);

/** log Σ eˣ along `axis`, computed stably (shifted by the maximum). */
export const logSumExp = (x: Tensor, axis = -1, keepDims = false): Tensor => {
  const ax = normalizeAxis("logSumExp", axis, x.rank);
  const m = stopGradient(max(x, ax, true));
  const out = add(log(sum(exp(sub(x, m)), ax, true)), m);
  return keepDims ? out : reshape(out, droppedShape(x.shape, [ax]));
};

// ---------------------------------------------------------------------------------------------
// Linear algebra, indexing, softmax

/**
 * Matrix product over the last two axes (batched over the leading ones), optionally with either
 * operand transposed.
 */
export const matmul = (
  a: Tensor,
  c: Tensor,
  opts: { readonly transposeA?: boolean; readonly transposeB?: boolean } = {},
): Tensor => {
  const be = backendOf("matmul", a, c);
  const tA = opts.transposeA ?? false;
  const tB = opts.transposeB ?? false;
  const shape = matmulShape(a.shape, c.shape, tA, tB);
  requireFloat("matmul", a);
  requireFloat("matmul", c);
  // A batched left operand against a shared matrix: fold the batch into rows.
  if (c.rank === 2 && a.rank > 2 && !tA) {
    return reshape(matmul(reshape(a, [-1, a.shape[a.rank - 1]]), c, opts), shape);
  }
  if (c.rank === 2 && a.rank > 2) {
    return matmul(a, broadcastTo(c, [...a.shape.slice(0, -2), ...c.shape]), opts);
  }
  const out = make(
    be,
    be.kernels.matmul(a.handle, a.shape, c.handle, c.shape, tA, tB),
    shape,
    "float32",
  );
  return record("matmul", out, [a, c], { transposeA: tA, transposeB: tB });
};

const checkIndices = (op: string, indices: Tensor): void => {
  if (indices.dtype !== "int32") {
    throw new Error(`${op}: indices must be int32, got ${indices.dtype}`);
  }
};

/** Selects entries of x along `axis`: out.shape = x.shape[:axis] + indices.shape + x.shape[axis+1:]. */
export const gather = (x: Tensor, indices: Tensor, axis = 0): Tensor => {
  const b = backendOf("gather", x, indices);
  checkIndices("gather", indices);
  const ax = normalizeAxis("gather", axis, x.rank);
  const shape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)];
  const out = make(
    b,
    b.kernels.gather(x.handle, x.shape, indices.handle, indices.shape, ax),
    shape,
    x.dtype,
  );
  return record("gather", out, [x], { indices, axis: ax });
};

/** The adjoint of gather: sums rows of `updates` into zeros of shape `shape` at `indices`. */
export const scatterAdd = (
  updates: Tensor,
  indices: Tensor,
  axis: number,
  shape: Shape,
): Tensor => {
  const b = backendOf("scatterAdd", updates, indices);
  checkIndices("scatterAdd", indices);
  const expected = [...shape.slice(0, axis), ...indices.shape, ...shape.slice(axis + 1)];
  if (!sameShape(expected, updates.shape)) {
    throw new Error(`scatterAdd: updates ${fmt(updates.shape)} do not match ${fmt(expected)}`);
  }
  const h = b.kernels.scatterAdd(
    updates.handle,
    updates.shape,
    indices.handle,
    indices.shape,
    axis,
    shape,
  );
  const out = make(b, h, shape, "float32");
  return record("scatterAdd", out, [updates], { indices, axis, shape });
};

/** Softmax over the last axis. */
export const softmax = (x: Tensor): Tensor => {
  const b = backendOf("softmax", x);
  requireFloat("softmax", x);
  const y = make(b, b.kernels.softmax(x.handle, x.shape), x.shape, "float32");
  return record("softmax", y, [x], null);
};

/** Inclusive running sum over the last axis. */
export const cumsum = (x: Tensor): Tensor => {
  const b = backendOf("cumsum", x);
  requireFloat("cumsum", x);
  const y = make(b, b.kernels.cumsum(x.handle, x.shape), x.shape, "float32");
  return record("cumsum", y, [x], null);
};

/** Log-softmax over the last axis, computed stably. */
export const logSoftmax = (x: Tensor): Tensor => {
  const b = backendOf("logSoftmax", x);
  requireFloat("logSoftmax", x);
  const y = make(b, b.kernels.logSoftmax(x.handle, x.shape), x.shape, "float32");
  return record("logSoftmax", y, [x], null);
};

/**
 * A fused op with a hand-written gradient (JAX's custom_vjp). `fwd` runs untraced on the
 * inputs and returns the output (the differentiated value) and any `aux` values beside it (no
 * gradient); `vjp` gives the inputs' gradients from the output's, recomputing what it needs, and
 * may return null for an input whose `needs` is false.
 */
export const customVjp = <A extends readonly Tensor[], X = null>(
  fwd: (...inputs: A) => { readonly output: Tensor; readonly aux: X },
  vjp: (inputs: A, g: Tensor, needs: readonly boolean[]) => readonly (Tensor | null)[],
): (...inputs: A) => { output: Tensor; aux: X } =>
(...inputs: A): { output: Tensor; aux: X } => {
  const { output, aux } = untraced(() => fwd(...inputs));
  const rule: Vjp = (g, needs) => untraced(() => vjp(inputs, g, needs));
  return { output: record("custom", output, inputs, { vjp: rule }), aux };
};
