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
import { matmulExtents, sameShape, sizeOf, stridesOf } from "../shape.ts";
import { type HalfOperand, matmul as tiledMatmul } from "./matmul.ts";
import { HalfMatrix, halfTable, widenHalf } from "../half.ts";
import { parallelMatmul, shared, threadsInUse } from "./threads.ts";
import { release, retain, take } from "./pool.ts";
import { expFast } from "./exp.ts";
import * as fused from "./fused.ts";
import { adamMoments } from "./adam.ts";
import { MAX_ROW_WIDTH, softmaxInto } from "../wasm/activations.ts";

type Buf = HostArray;

/** A zeroed buffer (reused when one of its size was disposed: see pool.ts). */
const alloc = (dtype: DType, n: number): Buf => take(dtype, n, true);
/** A buffer the caller overwrites in full before it is read: no zeroing. */
const allocFull = (dtype: DType, n: number): Buf => take(dtype, n, false);
const allocFloat = (n: number): Float32Array => take("float32", n, false) as Float32Array;

const dtypeOf = (x: Buf): DType => (x instanceof Int32Array ? "int32" : "float32");

/** One tight loop per op (a shared loop calling a function per element stays megamorphic in V8). */
const unary = (op: UnaryOp, x: Buf): Float32Array => {
  const n = x.length;
  const r = allocFloat(n);
  switch (op) {
    case "neg":
      for (let i = 0; i < n; i++) r[i] = -x[i];
      break;
    case "exp":
      for (let i = 0; i < n; i++) r[i] = expFast(x[i]);
      break;
    case "log":
      for (let i = 0; i < n; i++) r[i] = Math.log(x[i]);
      break;
    case "sqrt":
      for (let i = 0; i < n; i++) r[i] = Math.sqrt(x[i]);
      break;
    case "rsqrt":
      for (let i = 0; i < n; i++) r[i] = 1 / Math.sqrt(x[i]);
      break;
    case "square":
      for (let i = 0; i < n; i++) r[i] = x[i] * x[i];
      break;
    case "abs":
      for (let i = 0; i < n; i++) r[i] = Math.abs(x[i]);
      break;
    case "sigmoid":
      for (let i = 0; i < n; i++) r[i] = 1 / (1 + expFast(-x[i]));
      break;
    case "silu":
      for (let i = 0; i < n; i++) r[i] = x[i] / (1 + expFast(-x[i]));
      break;
    case "tanh":
      for (let i = 0; i < n; i++) r[i] = Math.tanh(x[i]);
      break;
    case "relu":
      for (let i = 0; i < n; i++) r[i] = x[i] > 0 ? x[i] : 0;
      break;
    case "step":
      for (let i = 0; i < n; i++) r[i] = x[i] > 0 ? 1 : 0;
      break;
  }
  return r;
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
  const idx = new Int32Array(sizeOf(out));
  const rank = out.length;
  const padded = [...new Array<number>(rank - shape.length).fill(1), ...shape];
  const src = stridesOf(padded);
  const dst = stridesOf(out);
  const walk = (d: number, so: number, dof: number): void => {
    if (d === rank) {
      idx[dof] = so;
      return;
    }
    const step = padded[d] === 1 ? 0 : src[d];
    for (let j = 0; j < out[d]; j++) walk(d + 1, so + j * step, dof + j * dst[d]);
  };
  walk(0, 0, 0);
  return idx;
};

/**
 * x broadcast to `out` as a dense buffer, built from block copies: the run of trailing axes
 * that x and out share is copied whole, and an axis that x broadcasts is filled by repeating
 * the block already written.
 */
const expand = (x: Buf, shape: Shape, out: Shape): Buf => {
  if (sameShape(shape, out)) return x;
  const rank = out.length;
  const padded = [...new Array<number>(rank - shape.length).fill(1), ...shape];
  const res = allocFull(dtypeOf(x), sizeOf(out)); // every value is written below
  if (x.length === 1) return res.fill(x[0]);
  const src = stridesOf(padded);
  const dst = stridesOf(out);
  let sharedFrom = rank; // the first axis from which x and out agree to the end
  while (sharedFrom > 0 && padded[sharedFrom - 1] === out[sharedFrom - 1]) sharedFrom--;
  let onesFrom = rank; // the first axis from which x has size 1 to the end
  while (onesFrom > 0 && padded[onesFrom - 1] === 1) onesFrom--;
  const block = sizeOf(out.slice(sharedFrom));
  const walk = (d: number, so: number, dof: number): void => {
    if (d >= onesFrom) {
      res.fill(x[so], dof, dof + (d === 0 ? res.length : dst[d - 1]));
    } else if (d === sharedFrom) {
      res.set(x.subarray(so, so + block), dof);
    } else if (padded[d] === 1) {
      walk(d + 1, so, dof);
      // Repeated by doubling: log₂(out[d]) copies instead of one per repeat.
      const end = dof + out[d] * dst[d];
      for (let filled = dof + dst[d]; filled < end; filled += filled - dof) {
        res.copyWithin(filled, dof, Math.min(filled, end - (filled - dof)));
      }
    } else {
      for (let j = 0; j < out[d]; j++) walk(d + 1, so + j * src[d], dof + j * dst[d]);
    }
  };
  walk(0, 0, 0);
  return res;
};

/** a (op) b over equal-length buffers; one tight loop per op keeps V8 monomorphic. */
const binarySame = (op: BinaryOp, a: Buf, b: Buf, r: Buf): Buf => {
  const n = r.length;
  switch (op) {
    case "add":
      for (let i = 0; i < n; i++) r[i] = a[i] + b[i];
      break;
    case "sub":
      for (let i = 0; i < n; i++) r[i] = a[i] - b[i];
      break;
    case "mul":
      for (let i = 0; i < n; i++) r[i] = a[i] * b[i];
      break;
    case "div":
      for (let i = 0; i < n; i++) r[i] = a[i] / b[i];
      break;
    case "maximum":
      for (let i = 0; i < n; i++) r[i] = a[i] >= b[i] || a[i] !== a[i] ? a[i] : b[i];
      break;
    case "minimum":
      for (let i = 0; i < n; i++) r[i] = a[i] <= b[i] || a[i] !== a[i] ? a[i] : b[i];
      break;
    case "pow":
      for (let i = 0; i < n; i++) r[i] = Math.pow(a[i], b[i]);
      break;
  }
  return r;
};

/** The same with a scalar right operand, the commonest broadcast (x * 2, x + eps). */
const binaryScalar = (op: BinaryOp, a: Buf, y: number, r: Buf): Buf => {
  const n = r.length;
  switch (op) {
    case "add":
      for (let i = 0; i < n; i++) r[i] = a[i] + y;
      return r;
    case "sub":
      for (let i = 0; i < n; i++) r[i] = a[i] - y;
      return r;
    case "mul":
      for (let i = 0; i < n; i++) r[i] = a[i] * y;
      return r;
    case "div":
      for (let i = 0; i < n; i++) r[i] = a[i] / y;
      return r;
    default: {
      const ys = allocFull(dtypeOf(a), n).fill(y);
      binarySame(op, a, ys, r);
      release(ys);
      return r;
    }
  }
};

/**
 * How `shape` broadcasts to `out`, when it is one of the two patterns that need no expanded
 * copy: "rows", one value per run of `inner` elements (a [N, 1] scale against [N, H]), or
 * "suffix", a block of `inner` values repeated (a bias [H], RoPE's [T, D] against [B, H, T, D]).
 * Runs shorter than MIN_RUN are left to the expanded path (a subarray per run costs more).
 */
const broadcastRuns = (
  shape: Shape,
  out: Shape,
): { kind: "rows" | "suffix"; inner: number } | null => {
  const rank = out.length;
  const padded = [...new Array<number>(rank - shape.length).fill(1), ...shape];
  let onesFrom = rank;
  while (onesFrom > 0 && padded[onesFrom - 1] === 1) onesFrom--;
  let sharedFrom = rank;
  while (sharedFrom > 0 && padded[sharedFrom - 1] === out[sharedFrom - 1]) sharedFrom--;
  const inner = (from: number) => sizeOf(out.slice(from));
  if (padded.slice(0, onesFrom).every((d, i) => d === out[i]) && inner(onesFrom) >= MIN_RUN) {
    return { kind: "rows", inner: inner(onesFrom) };
  }
  if (padded.slice(0, sharedFrom).every((d) => d === 1) && inner(sharedFrom) >= MIN_RUN) {
    return { kind: "suffix", inner: inner(sharedFrom) };
  }
  return null;
};
const MIN_RUN = 16;

/** a (op) b where b broadcasts to a's shape by `runs` (see broadcastRuns), run by run. */
const binaryRuns = (
  op: BinaryOp,
  a: Buf,
  b: Buf,
  runs: { kind: "rows" | "suffix"; inner: number },
  r: Buf,
): Buf => {
  const { kind, inner } = runs;
  if (kind === "suffix" && (op === "add" || op === "mul")) return suffixRuns(op, a, b, inner, r);
  for (let at = 0, row = 0; at < r.length; at += inner, row++) {
    const [ar, rr] = [a.subarray(at, at + inner), r.subarray(at, at + inner)];
    if (kind === "rows") binaryScalar(op, ar, b[row], rr);
    else binarySame(op, ar, b, rr);
  }
  return r;
};

/**
 * a + b or a · b with b repeated every `inner` values (a bias over rows), in one loop nest: no
 * subarray and call per row, which cost more than a row's arithmetic at widths like 64.
 */
const suffixRuns = (op: "add" | "mul", a: Buf, b: Buf, inner: number, r: Buf): Buf => {
  const rows = r.length / inner;
  for (let row = 0, at = 0; row < rows; row++, at += inner) {
    if (op === "add") { for (let j = 0; j < inner; j++) r[at + j] = a[at + j] + b[j]; }
    else for (let j = 0; j < inner; j++) r[at + j] = a[at + j] * b[j];
  }
  return r;
};

/** Ops whose operands may swap, so a broadcast left operand takes the run-by-run path too. */
const COMMUTATIVE: ReadonlySet<BinaryOp> = new Set(["add", "mul"]);

const binary = (
  op: BinaryOp,
  a: Buf,
  aShape: Shape,
  b: Buf,
  bShape: Shape,
  out: Shape,
  dtype: DType,
): Buf => {
  const r = allocFull(dtype, sizeOf(out));
  const [aFull, bFull] = [sameShape(aShape, out), sameShape(bShape, out)];
  if (aFull && bFull) return binarySame(op, a, b, r);
  if (aFull && b.length === 1) return binaryScalar(op, a, b[0], r);
  const bRuns = aFull ? broadcastRuns(bShape, out) : null;
  if (bRuns) return binaryRuns(op, a, b, bRuns, r);
  const aRuns = bFull && COMMUTATIVE.has(op) ? broadcastRuns(aShape, out) : null;
  if (aRuns) return binaryRuns(op, b, a, aRuns, r);
  const [ea, eb] = [expand(a, aShape, out), expand(b, bShape, out)];
  binarySame(op, ea, eb, r);
  // The expanded copies are this kernel's own: back to the pool.
  if (ea !== a) release(ea);
  if (eb !== b) release(eb);
  return r;
};

/** Applies f elementwise to a and b broadcast to `out` (for the rarer, cheaper ops). */
const broadcastApply = (
  a: Buf,
  aShape: Shape,
  b: Buf,
  bShape: Shape,
  out: Shape,
  result: Buf,
  f: (x: number, y: number) => number,
): Buf => {
  const ea = expand(a, aShape, out);
  const eb = expand(b, bShape, out);
  for (let i = 0; i < result.length; i++) result[i] = f(ea[i], eb[i]);
  return result;
};

/**
 * Reduces the middle axis of x seen as [outer, mid, inner] (a contiguous run of axes): over the
 * last axes each output is one contiguous row; otherwise rows of `inner` accumulate in place.
 */
const reduceBlock = (
  op: ReduceOp,
  x: Buf,
  outer: number,
  mid: number,
  inner: number,
  out: Float32Array,
): Float32Array => {
  const isMax = op === "max";
  if (inner === 1) {
    for (let r = 0; r < outer; r++) {
      let acc = isMax ? -Infinity : 0;
      const base = r * mid;
      if (!isMax) { for (let j = 0; j < mid; j++) acc += x[base + j]; }
      else {for (let j = 0; j < mid; j++) {
          acc = x[base + j] > acc || Number.isNaN(x[base + j]) ? x[base + j] : acc;
        }}
      out[r] = acc;
    }
    return out;
  }
  for (let o = 0; o < outer; o++) {
    const at = o * inner;
    for (let m = 0; m < mid; m++) {
      const base = (o * mid + m) * inner;
      if (!isMax) { for (let j = 0; j < inner; j++) out[at + j] += x[base + j]; }
      else {
        for (let j = 0; j < inner; j++) {
          const v = x[base + j];
          if (v > out[at + j] || Number.isNaN(v)) out[at + j] = v;
        }
      }
    }
  }
  return out;
};

const reduce = (op: ReduceOp, x: Buf, shape: Shape, axes: readonly number[]): Buf => {
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = alloc("float32", sizeOf(outShape)) as Float32Array;
  if (op === "max") out.fill(-Infinity);
  const contiguous = axes.length > 0 && axes.every((a, i) => a === axes[0] + i);
  if (contiguous) {
    const [first, end] = [axes[0], axes[axes.length - 1] + 1];
    const [outer, mid] = [sizeOf(shape.slice(0, first)), sizeOf(shape.slice(first, end))];
    return reduceBlock(op, x, outer, mid, sizeOf(shape.slice(end)), out);
  }
  const idx = broadcastIndex(outShape, shape); // each input element -> its output slot
  if (op === "sum") { for (let i = 0; i < x.length; i++) out[idx[i]] += x[i]; }
  else {
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      if (v > out[idx[i]] || Number.isNaN(v)) out[idx[i]] = v;
    }
  }
  return out;
};

const transpose = (x: Buf, shape: Shape, perm: readonly number[]): Buf => {
  const outShape = perm.map((p) => shape[p]);
  const src = stridesOf(shape);
  const permuted = perm.map((p) => src[p]);
  const rank = shape.length;
  if (rank === 0) return x.slice();
  const out = allocFull(dtypeOf(x), x.length);
  if (rank === 4 && perm[3] === 3) return swapMiddle(x, out, outShape, permuted);
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

/**
 * A rank-4 transpose that keeps the last axis (attention's [B, T, H, D] ↔ [B, H, T, D]): rows
 * of D values copied in three plain loops, without the general odometer per row.
 */
const swapMiddle = (x: Buf, out: Buf, outShape: Shape, strides: readonly number[]): Buf => {
  const [n0, n1, n2, d] = outShape;
  const [s0, s1, s2] = strides;
  let e = 0;
  for (let i = 0; i < n0; i++) {
    for (let j = 0; j < n1; j++) {
      for (let k = 0; k < n2; k++) {
        const from = i * s0 + j * s1 + k * s2;
        for (let v = 0; v < d; v++) out[e++] = x[from + v];
      }
    }
  }
  return out;
};

/** Runs at least this long are copied with TypedArray.set (a memcpy) instead of a loop. */
const SET_RUN = 32;

/**
 * Copies the box `size` at `begin` of `x` (used by slice, and in reverse by pad). Trailing axes
 * that the box, the source and the destination all span in full are one contiguous run, so a
 * slice along the first axis is a single copy.
 */
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
  let from = rank - 1; // runs cover axes from.. to the end
  while (from > 0 && size[from] === srcShape[from] && size[from] === dstShape[from]) from--;
  const ss = stridesOf(srcShape);
  const ds = stridesOf(dstShape);
  const inner = sizeOf(size.slice(from));
  const counter = new Array<number>(from + 1).fill(0);
  const rows = sizeOf(size) / inner;
  for (let r = 0; r < rows; r++) {
    let so = 0;
    let dof = 0;
    for (let d = 0; d <= from; d++) {
      so += (srcBegin[d] + counter[d]) * ss[d];
      dof += (dstBegin[d] + counter[d]) * ds[d];
    }
    if (inner >= SET_RUN) dst.set(src.subarray(so, so + inner), dof);
    else for (let j = 0; j < inner; j++) dst[dof + j] = src[so + j];
    for (let d = from - 1; d >= 0; d--) {
      counter[d]++;
      if (counter[d] < size[d]) break;
      counter[d] = 0;
    }
  }
};

/** [...batch, M, K] x [..., K, N] over host buffers; b may be 16-bit (see tsKernels). */
const matmulBuffers = (
  a: Float32Array,
  aShape: Shape,
  b: Float32Array | HalfOperand,
  bShape: Shape,
  transposeA: boolean,
  transposeB: boolean,
): Float32Array => {
  const { m, k, n, batch, bBatched, foldable } = matmulExtents(
    aShape,
    bShape,
    transposeA,
    transposeB,
  );
  // A shared right operand and an untransposed left one: fold the batch into M.
  const job = foldable
    ? { a, b, batch: 1, bBatched: false, m: batch * m, n, k, transposeA: false, transposeB }
    : { a, b, batch, bBatched, m, n, k, transposeA, transposeB };
  return parallelMatmul(job) ??
    tiledMatmul(a, b, job.batch, job.bBatched, job.m, n, k, job.transposeA, transposeB);
};

/** Uploads at least this large go to shared memory (see upload). */
const SHARED_UPLOAD_VALUES = 1 << 16;

const floatKernels: Kernels<Buf> = {
  name: "ts",
  // Large buffers (weights) into shared memory when worker threads run products, so they read
  // them without a copy per product; otherwise plain (shared buffers are slow to make and the
  // collector frees them late: a dropout mask a projection would pile up).
  upload: (data) => {
    const shared = data instanceof Float32Array && data.length >= SHARED_UPLOAD_VALUES &&
      threadsInUse() > 1;
    const copy = take(dtypeOf(data), data.length, false, shared);
    copy.set(data);
    return copy;
  },
  download: (h) => Promise.resolve(h.slice()),
  downloadSync: (h) => h.slice(),
  dispose: release,

  fill: (shape, value, dtype) => allocFull(dtype, sizeOf(shape)).fill(value),
  cast: (x, _shape, _from, to) => {
    const out = alloc(to, x.length);
    if (to === "int32") { for (let i = 0; i < x.length; i++) out[i] = Math.trunc(x[i]); }
    else out.set(x);
    return out;
  },
  unary: (op, x) => unary(op, x),
  binary,
  compare: (op, a, aShape, b, bShape, out) =>
    broadcastApply(a, aShape, b, bShape, out, new Float32Array(sizeOf(out)), compareFns[op]),
  where: (cond, cShape, a, aShape, b, bShape, out) => {
    const n = sizeOf(out);
    const [ec, ea, eb] = [
      expand(cond, cShape, out),
      expand(a, aShape, out),
      expand(b, bShape, out),
    ];
    const res = alloc(dtypeOf(a), n);
    for (let i = 0; i < n; i++) res[i] = ec[i] !== 0 ? ea[i] : eb[i];
    return res;
  },
  reduce,
  broadcastTo: (x, shape, out) => (sameShape(shape, out) ? retain(x) : expand(x, shape, out)),
  matmul: (a, aShape, b, bShape, transposeA, transposeB) =>
    matmulBuffers(a as Float32Array, aShape, b as Float32Array, bShape, transposeA, transposeB),
  reshape: retain,
  transpose,
  slice: (x, shape, begin, size) => {
    const out = allocFull(dtypeOf(x), sizeOf(size));
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
    const outShape = shapes[0].map((
      d,
      i,
    ) => (i === axis ? shapes.reduce((s, sh) => s + sh[axis], 0) : d));
    const out = allocFull(dtypeOf(xs[0]), sizeOf(outShape));
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
    const out = allocFull(dtypeOf(x), outer * ni * inner);
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
    const res = alloc("float32", sizeOf(out));
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < ni; i++) {
        const dst = (o * dim + indices[i]) * inner;
        const src = (o * ni + i) * inner;
        for (let j = 0; j < inner; j++) res[dst + j] += updates[src + j];
      }
    }
    return res;
  },
  softmax: (x, shape) => {
    const width = shape[shape.length - 1];
    if (width > MAX_ROW_WIDTH) return softmaxRows(x as Float32Array, width, false);
    const out = allocFloat(x.length);
    softmaxInto(x as Float32Array, width, out); // eˣ four lanes at a time in wasm
    return out;
  },
  logSoftmax: (x, shape) => softmaxRows(x as Float32Array, shape[shape.length - 1], true),
  swiglu: (gate, up) => fused.swiglu(gate as Float32Array, up as Float32Array),
  swigluGrad: (g, gate, up) =>
    fused.swigluGrad(g as Float32Array, gate as Float32Array, up as Float32Array),
  rmsNorm: (x, weight, shape, eps) =>
    fused.rmsNorm(x as Float32Array, weight as Float32Array, shape, eps),
  rmsNormGrad: (g, x, weight, shape, eps) =>
    fused.rmsNormGrad(g as Float32Array, x as Float32Array, weight as Float32Array, shape, eps),
  rope: (x, shape, cos, sin, inverse, splitHeads) =>
    fused.rope(
      x as Float32Array,
      shape,
      cos as Float32Array,
      sin as Float32Array,
      inverse,
      splitHeads,
    ),
  softmaxGrad: (y, g, shape) => fused.softmaxGrad(y as Float32Array, g as Float32Array, shape),
  adamMoments: (g, m, v, c) =>
    adamMoments(g as Float32Array, m as Float32Array, v as Float32Array, c),
  // A new buffer even when c may be overwritten: the product needs its own anyway.
  matmulAdd: (c, a, aShape, b, bShape, transposeA, transposeB) => {
    const out = floatKernels.matmul(a, aShape, b, bShape, transposeA, transposeB) as Float32Array;
    for (let i = 0; i < out.length; i++) out[i] += c[i];
    return out;
  },
  cumsum: (x, shape) => {
    const src = x as Float32Array;
    const n = shape[shape.length - 1];
    const out = new Float32Array(src.length);
    for (let base = 0; base < src.length; base += n) {
      let total = 0;
      for (let j = 0; j < n; j++) out[base + j] = total += src[base + j];
    }
    return out;
  },
};

// One row's exponentials in float64, so softmax takes one exp per value and rounds once.
let rowScratch = new Float64Array(0);

const softmaxRows = (x: Float32Array, n: number, log: boolean): Float32Array => {
  const out = allocFloat(x.length);
  if (rowScratch.length < n) rowScratch = new Float64Array(n);
  const e = rowScratch;
  for (let base = 0; base < x.length; base += n) {
    let max = -Infinity;
    for (let j = 0; j < n; j++) if (x[base + j] > max) max = x[base + j];
    if (max === -Infinity) max = 0; // an all -inf row stays -inf / 0 instead of NaN
    let total = 0;
    for (let j = 0; j < n; j++) {
      const d = x[base + j] - max;
      total += e[j] = expFast(d);
    }
    if (log) {
      const lse = max + Math.log(total);
      for (let j = 0; j < n; j++) out[base + j] = x[base + j] - lse;
    } else {
      for (let j = 0; j < n; j++) out[base + j] = e[j] / total;
    }
  }
  return out;
};

/** The matmul right operand a handle gives: float32 as is, 16-bit widened while packed. */
const rightOperand = (b: Buf | HalfMatrix): Float32Array | HalfOperand =>
  b instanceof HalfMatrix
    ? { bits: b.bits, format: b.format, table: halfTable(b.format) }
    : b as Float32Array;

const floatOf = (x: unknown): unknown => (x instanceof HalfMatrix ? widenHalf(x) : x);

/** Rows of a 16-bit [dim, inner] matrix (the embedding lookup), widened as they are copied. */
const gatherHalf = (x: HalfMatrix, shape: Shape, indices: Buf, axis: number): Float32Array => {
  if (axis !== 0 || shape.length !== 2) {
    return floatKernels.gather(
      widenHalf(x),
      shape,
      indices,
      [indices.length],
      axis,
    ) as Float32Array;
  }
  const inner = shape[1];
  const table = halfTable(x.format);
  const out = allocFloat(indices.length * inner);
  for (let i = 0; i < indices.length; i++) {
    const src = indices[i] * inner;
    for (let j = 0; j < inner; j++) out[i * inner + j] = table[x.bits[src + j]];
  }
  return out;
};

/**
 * The pure-TS backend: Float32Array / Int32Array buffers, and 16-bit weights (HalfMatrix) that
 * stay 16-bit: matmul widens them while packing, the embedding lookup while copying rows, and any
 * other kernel gets them widened first (correct, not fast: only weights are 16-bit).
 */
export const tsKernels: Kernels<Buf | HalfMatrix> = {
  ...(Object.fromEntries(
    Object.entries(floatKernels).map(([name, kernel]) => [
      name,
      typeof kernel === "function"
        ? (...args: unknown[]) => (kernel as (...a: unknown[]) => unknown)(...args.map(floatOf))
        : kernel,
    ]),
  ) as unknown as Kernels<Buf | HalfMatrix>),
  uploadHalf: (bits, format) => new HalfMatrix(shared(bits), format),
  // Not through floatOf: a 16-bit buffer is never pooled, and widening it to free it is waste.
  dispose: release,
  writeInto: (dst, dstShape, src, srcShape, axis, offset) => {
    if (dst instanceof HalfMatrix) throw new Error("writeInto: a 16-bit buffer is read-only");
    const at = dstShape.map((_, d) => (d === axis ? offset : 0));
    copyBox(floatOf(src) as Buf, srcShape, srcShape.map(() => 0), dst, dstShape, at, srcShape);
  },
  reshape: retain,
  matmul: (a, aShape, b, bShape, transposeA, transposeB) =>
    matmulBuffers(
      floatOf(a) as Float32Array,
      aShape,
      rightOperand(b as Buf | HalfMatrix),
      bShape,
      transposeA,
      transposeB,
    ),
  gather: (x, shape, indices, iShape, axis) =>
    x instanceof HalfMatrix
      ? gatherHalf(x, shape, indices as Buf, axis)
      : floatKernels.gather(x, shape, floatOf(indices) as Buf, iShape, axis),
};
