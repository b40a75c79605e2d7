/**
 * Pure-TS matrix multiply, GotoBLAS-style without SIMD. Operands are read through strided
 * views, so transposes cost nothing extra: they only change how the packing step walks
 * memory. Packing copies a KC-deep slab of B into 4-column panels and 4 rows of A into a
 * panel, both as Float64Array (loads need no f32 -> f64 conversion) and laid out in exactly
 * the order the micro-kernel reads them. The micro-kernel then keeps a 4x4 tile of C in 16
 * local variables while it runs over K: 8 sequential loads per 16 multiply-adds. (A 4x8 tile
 * is ~10% faster on JavaScriptCore but no faster in V8, where it spills registers.) KC and NC
 * bound the slab of packed B that each A panel sweeps, so it stays in L2 for large products.
 */

import type { HalfFormat } from "../half.ts";

const MR = 4; // rows of the register tile
const NR = 4; // columns of the register tile
const KC = 256; // depth of one packed slab
const NC = 128; // columns of packed B swept per A panel

/** A logical [rows, cols] matrix inside a flat buffer: element (r, c) = data[offset + r·rs + c·cs]. */
interface View {
  readonly data: Float32Array;
  readonly offset: number;
  readonly rowStride: number;
  readonly colStride: number;
}

/** B as 16-bit patterns widened through `table` (lib/tensor/half.ts) while it is packed. */
export interface HalfOperand {
  readonly bits: Uint16Array;
  readonly format: HalfFormat;
  readonly table: Float32Array;
}

interface HalfView {
  readonly data: Uint16Array;
  readonly table: Float32Array;
  readonly offset: number;
  readonly rowStride: number;
  readonly colStride: number;
}

/** B[p0 : p0+kc, :] as NR-column panels, each [kc][NR]; columns past n are zero. */
const packB = (b: View | HalfView, p0: number, kc: number, n: number, into: Float64Array): void => {
  if ("table" in b) return packHalfB(b, p0, kc, n, into);
  const { data, offset, rowStride, colStride } = b;
  let w = 0;
  for (let j0 = 0; j0 < n; j0 += NR) {
    const cols = Math.min(NR, n - j0);
    for (let p = 0; p < kc; p++) {
      const row = offset + (p0 + p) * rowStride + j0 * colStride;
      for (let c = 0; c < cols; c++) into[w + c] = data[row + c * colStride];
      for (let c = cols; c < NR; c++) into[w + c] = 0;
      w += NR;
    }
  }
};

/**
 * packB for 16-bit B: the same panels, each value widened by one table read. A loop of its own,
 * not packB's with a per-value choice: the float32 packing stays a plain copy.
 */
const packHalfB = (b: HalfView, p0: number, kc: number, n: number, into: Float64Array): void => {
  const { data, table, offset, rowStride, colStride } = b;
  let w = 0;
  for (let j0 = 0; j0 < n; j0 += NR) {
    const cols = Math.min(NR, n - j0);
    for (let p = 0; p < kc; p++) {
      const row = offset + (p0 + p) * rowStride + j0 * colStride;
      for (let c = 0; c < cols; c++) into[w + c] = table[data[row + c * colStride]];
      for (let c = cols; c < NR; c++) into[w + c] = 0;
      w += NR;
    }
  }
};

/** A[i0 : i0+MR, p0 : p0+kc] as one panel [kc][MR]; rows past m are zero. */
const packA = (
  a: View,
  i0: number,
  p0: number,
  kc: number,
  m: number,
  into: Float64Array,
): void => {
  const { data, offset, rowStride, colStride } = a;
  const rows = Math.min(MR, m - i0);
  for (let r = 0; r < MR; r++) {
    const base = offset + (i0 + r) * rowStride + p0 * colStride;
    for (let p = 0; p < kc; p++) into[p * MR + r] = r < rows ? data[base + p * colStride] : 0;
  }
};

/** tile[MR][NR] = ap[kc][MR]ᵀ · bp[bOff : bOff + kc·NR] as [kc][NR]. */
const microKernel = (
  ap: Float64Array,
  bp: Float64Array,
  bOff: number,
  kc: number,
  tile: Float64Array,
): void => {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  for (let p = 0, q = 0, r = bOff; p < kc; p++, q += 4, r += 4) {
    const x0 = ap[q], x1 = ap[q + 1], x2 = ap[q + 2], x3 = ap[q + 3];
    let y = bp[r];
    c00 += x0 * y, c10 += x1 * y, c20 += x2 * y, c30 += x3 * y;
    y = bp[r + 1];
    c01 += x0 * y, c11 += x1 * y, c21 += x2 * y, c31 += x3 * y;
    y = bp[r + 2];
    c02 += x0 * y, c12 += x1 * y, c22 += x2 * y, c32 += x3 * y;
    y = bp[r + 3];
    c03 += x0 * y, c13 += x1 * y, c23 += x2 * y, c33 += x3 * y;
  }
  tile[0] = c00, tile[1] = c01, tile[2] = c02, tile[3] = c03;
  tile[4] = c10, tile[5] = c11, tile[6] = c12, tile[7] = c13;
  tile[8] = c20, tile[9] = c21, tile[10] = c22, tile[11] = c23;
  tile[12] = c30, tile[13] = c31, tile[14] = c32, tile[15] = c33;
};

// Packing buffers are reused across calls (single-threaded, never held across calls): a fresh
// half-megabyte buffer per product costs as much as the packing itself at 256².
let packedBScratch = new Float64Array(0);
const scratchB = (size: number): Float64Array => {
  if (packedBScratch.length < size) packedBScratch = new Float64Array(size);
  return packedBScratch;
};
const packedA = new Float64Array(KC * MR);
const tile = new Float64Array(MR * NR);

/** out[outOffset + i·ldc + j] += (A · B)[i, j] for the logical A [m, k] and B [k, n]. */
const gemm = (
  a: View,
  b: View | HalfView,
  out: Float32Array,
  outOffset: number,
  m: number,
  n: number,
  k: number,
  ldc: number,
): void => {
  const packedB = scratchB(Math.min(KC, k) * Math.ceil(n / NR) * NR);
  for (let p0 = 0; p0 < k; p0 += KC) {
    const kc = Math.min(KC, k - p0);
    packB(b, p0, kc, n, packedB);
    for (let j1 = 0; j1 < n; j1 += NC) {
      const jEnd = Math.min(j1 + NC, n);
      for (let i0 = 0; i0 < m; i0 += MR) {
        packA(a, i0, p0, kc, m, packedA);
        const rows = Math.min(MR, m - i0);
        for (let j0 = j1; j0 < jEnd; j0 += NR) {
          microKernel(packedA, packedB, (j0 / NR) * kc * NR, kc, tile);
          const cols = Math.min(NR, n - j0);
          for (let r = 0; r < rows; r++) {
            const o = outOffset + (i0 + r) * ldc + j0;
            for (let c = 0; c < cols; c++) out[o + c] += tile[r * NR + c];
          }
        }
      }
    }
  }
};

/** One (batched) product: `batch` products of A [m, k] and B [k, n] (after the transposes). */
export interface MatmulJob {
  readonly a: Float32Array;
  readonly b: Float32Array | HalfOperand;
  readonly batch: number;
  /** b holds one matrix per product; else one shared by all. */
  readonly bBatched: boolean;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly transposeA: boolean;
  readonly transposeB: boolean;
}

/**
 * What a worker is sent (lib/tensor/ts/threads.ts): the job over shared buffers (a 16-bit b
 * without its table, which the worker has its own of), the shared output, its band of columns,
 * and the control words [bands done, failed].
 */
export interface Band {
  readonly job: Omit<MatmulJob, "b"> & {
    readonly b: Float32Array | { readonly bits: Uint16Array; readonly format: HalfFormat };
  };
  readonly out: Float32Array;
  readonly begin: number;
  readonly end: number;
  readonly control: Int32Array;
}

/**
 * Columns [begin, end) of every product of `job`, added into `out` ([batch, m, n], row-major):
 * the unit of work threads split a product into (lib/tensor/ts/threads.ts).
 */
export const matmulColumns = (
  job: MatmulJob,
  out: Float32Array,
  begin: number,
  end: number,
): void => {
  const { a, b, batch, bBatched, m, n, k, transposeA, transposeB } = job;
  for (let t = 0; t < batch; t++) {
    const aView: View = transposeA // stored [k, m] or [m, k]
      ? { data: a, offset: t * m * k, rowStride: 1, colStride: m }
      : { data: a, offset: t * m * k, rowStride: k, colStride: 1 };
    const bOffset = bBatched ? t * k * n : 0;
    const strides = transposeB // stored [n, k] or [k, n]
      ? { offset: bOffset + begin * k, rowStride: 1, colStride: k }
      : { offset: bOffset + begin, rowStride: n, colStride: 1 };
    const bView: View | HalfView = b instanceof Float32Array
      ? { data: b, ...strides }
      : { data: b.bits, table: b.table, ...strides };
    gemm(aView, bView, out, t * m * n + begin, m, end - begin, k, n);
  }
};

/**
 * Batched matmul over row-major buffers. `batch` products; b is shared when `bBatched` is false.
 * b may be 16-bit (frozen weights), widened as it is packed.
 */
export const matmul = (
  a: Float32Array,
  b: Float32Array | HalfOperand,
  batch: number,
  bBatched: boolean,
  m: number,
  n: number,
  k: number,
  transposeA: boolean,
  transposeB: boolean,
): Float32Array => {
  const out = new Float32Array(batch * m * n);
  matmulColumns({ a, b, batch, bBatched, m, n, k, transposeA, transposeB }, out, 0, n);
  return out;
};
