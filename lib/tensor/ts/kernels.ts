/** The pure-TS backend: Float32Array / Int32Array buffers, no dependencies. */
import type {
  BinaryOp,
  CompareOp,
  DType,
  HostArray,
  Kernels,
  ReduceOp,
  Shape,
  UnaryOp,
} from "../kernels.ts";
import { sameShape, sizeOf, stridesOf } from "../shape.ts";
import { matmul as tiledMatmul } from "./matmul.ts";

type Buf = HostArray;

const alloc = (dtype: DType, n: number): Buf =>
  dtype === "int32" ? new Int32Array(n) : new Float32Array(n);

const unaryFns: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  square: (x) => x * x,
  abs: Math.abs,
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  silu: (x) => x / (1 + Math.exp(-x)),
  tanh: Math.tanh,
  relu: (x) => (x > 0 ? x : 0),
  step: (x) => (x > 0 ? 1 : 0),
};

const binaryFns: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  maximum: (a, b) => (a >= b || Number.isNaN(a) ? a : b),
  minimum: (a, b) => (a <= b || Number.isNaN(a) ? a : b),
  pow: Math.pow,
};

const compareFns: Record<CompareOp, (a: number, b: number) => number> = {
  greater: (a, b) => (a > b ? 1 : 0),
  greaterEqual: (a, b) => (a >= b ? 1 : 0),
  less: (a, b) => (a < b ? 1 : 0),
  lessEqual: (a, b) => (a <= b ? 1 : 0),
  equal: (a, b) => (a === b ? 1 : 0),
};

/** For each element of `out`, the flat index of the element of `shape` it reads under broadcasting. */
const broadcastIndex = (shape: Shape, out: Shape): Int32Array => {
  const n = sizeOf(out);
  const idx = new Int32Array(n);
  const rank = out.length;
  const src = stridesOf(shape);
  const strides = out.map((_, i) => {
    const j = i - (rank - shape.length);
    return j < 0 || shape[j] === 1 ? 0 : src[j];
  });
  const counter = new Array<number>(rank).fill(0);
  let offset = 0;
  for (let e = 0; e < n; e++) {
    idx[e] = offset;
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]++;
      offset += strides[d];
      if (counter[d] < out[d]) break;
      offset -= strides[d] * out[d];
      counter[d] = 0;
    }
  }
  return idx;
};

/** Applies f elementwise to a and b broadcast to `out`, with fast paths for the common layouts. */
const broadcastApply = (
  a: Buf,
  aShape: Shape,
  b: Buf,
  bShape: Shape,
  out: Shape,
  result: Buf,
  f: (x: number, y: number) => number,
): Buf => {
  const n = result.length;
  if (sameShape(aShape, out) && sameShape(bShape, out)) {
    for (let i = 0; i < n; i++) result[i] = f(a[i], b[i]);
  } else if (b.length === 1 && sameShape(aShape, out)) {
    const y = b[0];
    for (let i = 0; i < n; i++) result[i] = f(a[i], y);
  } else if (a.length === 1 && sameShape(bShape, out)) {
    const x = a[0];
    for (let i = 0; i < n; i++) result[i] = f(x, b[i]);
  } else if (sameShape(aShape, out) && isTrailing(bShape, out)) {
    const m = b.length;
    for (let i = 0; i < n; i++) result[i] = f(a[i], b[i % m]);
  } else {
    const ia = sameShape(aShape, out) ? null : broadcastIndex(aShape, out);
    const ib = sameShape(bShape, out) ? null : broadcastIndex(bShape, out);
    for (let i = 0; i < n; i++) result[i] = f(a[ia ? ia[i] : i], b[ib ? ib[i] : i]);
  }
  return result;
};

/** True when `shape` (ignoring leading 1s) equals the trailing dimensions of `out`. */
const isTrailing = (shape: Shape, out: Shape): boolean => {
  const s = shape.slice(shape.findIndex((d) => d !== 1) === -1 ? shape.length : shape.findIndex((d) => d !== 1));
  return s.length <= out.length && s.every((d, i) => d === out[out.length - s.length + i]);
};

const reduce = (op: ReduceOp, x: Buf, shape: Shape, axes: readonly number[]): Buf => {
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = new Float32Array(sizeOf(outShape));
  if (op === "max") out.fill(-Infinity);
  const last = shape.length - 1;
  // Fast path: reducing only the trailing axes (rows are contiguous).
  const trailing = axes.length > 0 && axes.every((a, i) => a === shape.length - axes.length + i);
  if (trailing) {
    const inner = axes.reduce((p, a) => p * shape[a], 1);
    for (let r = 0; r < out.length; r++) {
      let acc = op === "max" ? -Infinity : 0;
      const base = r * inner;
      if (op === "sum") for (let j = 0; j < inner; j++) acc += x[base + j];
      else for (let j = 0; j < inner; j++) acc = x[base + j] > acc || Number.isNaN(x[base + j]) ? x[base + j] : acc;
      out[r] = acc;
    }
    return out;
  }
  const idx = broadcastIndex(outShape, shape); // each input element -> its output slot
  if (op === "sum") for (let i = 0; i < x.length; i++) out[idx[i]] += x[i];
  else {
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      if (v > out[idx[i]] || Number.isNaN(v)) out[idx[i]] = v;
    }
  }
  void last;
  return out;
};

const transpose = (x: Buf, shape: Shape, perm: readonly number[]): Buf => {
  const outShape = perm.map((p) => shape[p]);
  const src = stridesOf(shape);
  const permuted = perm.map((p) => src[p]);
  const out = alloc(x instanceof Int32Array ? "int32" : "float32", x.length);
  const rank = shape.length;
  if (rank === 0) return x.slice();
  const counter = new Array<number>(rank).fill(0);
  let offset = 0;
  const innerStride = permuted[rank - 1];
  const innerSize = outShape[rank - 1];
  for (let e = 0; e < out.length; e += innerSize) {
    for (let j = 0; j < innerSize; j++) out[e + j] = x[offset + j * innerStride];
    for (let d = rank - 2; d >= 0; d--) {
      counter[d]++;
      offset += permuted[d];
      if (counter[d] < outShape[d]) break;
      offset -= permuted[d] * outShape[d];
      counter[d] = 0;
    }
  }
  return out;
};

/** Copies the box `size` at `begin` of `x` (used by slice, and in reverse by pad). */
const copyBox = (
  src: Buf,
  srcShape: Shape,
  srcBegin: readonly number[],
  dst: Buf,
  dstShape: Shape,
  dstBegin: readonly number[],
  size: readonly number[],
): void => {
  const rank = size.length;
  if (sizeOf(size) === 0) return;
  if (rank === 0) {
    dst[0] = src[0];
    return;
  }
  const ss = stridesOf(srcShape);
  const ds = stridesOf(dstShape);
  const inner = size[rank - 1];
  const counter = new Array<number>(rank).fill(0);
  const rows = sizeOf(size) / inner;
  for (let r = 0; r < rows; r++) {
    let so = 0;
    let dof = 0;
    for (let d = 0; d < rank; d++) {
      so += (srcBegin[d] + counter[d]) * ss[d];
      dof += (dstBegin[d] + counter[d]) * ds[d];
    }
    for (let j = 0; j < inner; j++) dst[dof + j] = src[so + j];
    for (let d = rank - 2; d >= 0; d--) {
      counter[d]++;
      if (counter[d] < size[d]) break;
      counter[d] = 0;
    }
  }
};

const dtypeOf = (x: Buf): DType => (x instanceof Int32Array ? "int32" : "float32");

export const tsKernels: Kernels<Buf> = {
  name: "ts",
  upload: (data) => data.slice(),
  download: (h) => Promise.resolve(h.slice()),
  downloadSync: (h) => h.slice(),
  dispose: () => {},

  fill: (shape, value, dtype) => alloc(dtype, sizeOf(shape)).fill(value),
  cast: (x, _shape, _from, to) => {
    const out = alloc(to, x.length);
    if (to === "int32") for (let i = 0; i < x.length; i++) out[i] = Math.trunc(x[i]);
    else out.set(x);
    return out;
  },
  unary: (op, x) => {
    const f = unaryFns[op];
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) out[i] = f(x[i]);
    return out;
  },
  binary: (op, a, aShape, b, bShape, out, dtype) =>
    broadcastApply(a, aShape, b, bShape, out, alloc(dtype, sizeOf(out)), binaryFns[op]),
  compare: (op, a, aShape, b, bShape, out) =>
    broadcastApply(a, aShape, b, bShape, out, new Float32Array(sizeOf(out)), compareFns[op]),
  where: (cond, cShape, a, aShape, b, bShape, out) => {
    const n = sizeOf(out);
    const ic = broadcastIndex(cShape, out);
    const ia = broadcastIndex(aShape, out);
    const ib = broadcastIndex(bShape, out);
    const res = alloc(dtypeOf(a), n);
    for (let i = 0; i < n; i++) res[i] = cond[ic[i]] !== 0 ? a[ia[i]] : b[ib[i]];
    return res;
  },
  reduce,
  broadcastTo: (x, shape, out) => {
    const idx = broadcastIndex(shape, out);
    const res = alloc(dtypeOf(x), idx.length);
    for (let i = 0; i < idx.length; i++) res[i] = x[idx[i]];
    return res;
  },
  matmul: (a, aShape, b, bShape, transposeA, transposeB) => {
    const r = aShape.length;
    const [m, k] = transposeA ? [aShape[r - 1], aShape[r - 2]] : [aShape[r - 2], aShape[r - 1]];
    const n = transposeB ? bShape[bShape.length - 2] : bShape[bShape.length - 1];
    const batch = sizeOf(aShape.slice(0, -2));
    const bBatched = bShape.length > 2;
    // A shared right operand and an untransposed left one: fold the batch into M.
    if (!bBatched && !transposeA) {
      return tiledMatmul(a as Float32Array, b as Float32Array, 1, false, batch * m, n, k, false, transposeB);
    }
    return tiledMatmul(a as Float32Array, b as Float32Array, batch, bBatched, m, n, k, transposeA, transposeB);
  },
  reshape: (x) => x,
  transpose,
  slice: (x, shape, begin, size) => {
    const out = alloc(dtypeOf(x), sizeOf(size));
    copyBox(x, shape, begin, out, size, size.map(() => 0), size);
    return out;
  },
  pad: (x, shape, paddings) => {
    const outShape = shape.map((d, i) => d + paddings[i][0] + paddings[i][1]);
    const out = alloc(dtypeOf(x), sizeOf(outShape));
    copyBox(x, shape, shape.map(() => 0), out, outShape, paddings.map((p) => p[0]), shape);
    return out;
  },
  concat: (xs, shapes, axis) => {
    const outShape = shapes[0].map((d, i) => (i === axis ? shapes.reduce((s, sh) => s + sh[axis], 0) : d));
    const out = alloc(dtypeOf(xs[0]), sizeOf(outShape));
    let at = 0;
    xs.forEach((x, i) => {
      const begin = outShape.map((_, d) => (d === axis ? at : 0));
      copyBox(x, shapes[i], shapes[i].map(() => 0), out, outShape, begin, shapes[i]);
      at += shapes[i][axis];
    });
    return out;
  },
  gather: (x, shape, indices, _iShape, axis) => {
    const outer = sizeOf(shape.slice(0, axis));
    const inner = sizeOf(shape.slice(axis + 1));
    const dim = shape[axis];
    const ni = indices.length;
    const out = alloc(dtypeOf(x), outer * ni * inner);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < ni; i++) {
        const src = (o * dim + indices[i]) * inner;
        const dst = (o * ni + i) * inner;
        for (let j = 0; j < inner; j++) out[dst + j] = x[src + j];
      }
    }
    return out;
  },
  scatterAdd: (updates, _uShape, indices, _iShape, axis, out) => {
    const outer = sizeOf(out.slice(0, axis));
    const inner = sizeOf(out.slice(axis + 1));
    const dim = out[axis];
    const ni = indices.length;
    const res = new Float32Array(sizeOf(out));
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < ni; i++) {
        const dst = (o * dim + indices[i]) * inner;
        const src = (o * ni + i) * inner;
        for (let j = 0; j < inner; j++) res[dst + j] += updates[src + j];
      }
    }
    return res;
  },
  softmax: (x, shape) => softmaxRows(x as Float32Array, shape[shape.length - 1], false),
  logSoftmax: (x, shape) => softmaxRows(x as Float32Array, shape[shape.length - 1], true),
};

const softmaxRows = (x: Float32Array, n: number, log: boolean): Float32Array => {
  const out = new Float32Array(x.length);
  for (let base = 0; base < x.length; base += n) {
    let max = -Infinity;
    for (let j = 0; j < n; j++) if (x[base + j] > max) max = x[base + j];
    if (max === -Infinity) max = 0; // an all -inf row stays -inf / 0 instead of NaN
    let total = 0;
    for (let j = 0; j < n; j++) total += Math.exp(x[base + j] - max);
    if (log) {
      const lse = max + Math.log(total);
      for (let j = 0; j < n; j++) out[base + j] = x[base + j] - lse;
    } else {
      for (let j = 0; j < n; j++) out[base + j] = Math.exp(x[base + j] - max) / total;
    }
  }
  return out;
};
