/**
 * The matrix product on a native BLAS (./blas.ts): float32 operands go to sgemm as they are; a
 * 16-bit right operand (frozen weights, lib/tensor/half.ts) is widened band by band into one
 * reused float32 scratch of cache size, and each band multiplied as soon as it is widened, so
 * the weights stay 16-bit in memory and are read once per product. Decoding's products (a few
 * rows times a BF16 weight, transposed) skip the float32 copy: ./half_gemv.ts widens in registers.
 * BF16 weights in the arena (./half_arena.ts) are widened there by the wasm module, about ten
 * times faster than the JavaScript loop, and sgemm reads the band in place.
 */
import type { Shape } from "../kernels.ts";
import { matmulExtents } from "../shape.ts";
import { type HalfFormat, HalfMatrix, halfTable } from "../half.ts";
import type { Blas } from "./blas.ts";
import { bf16RowsTimesTransposed, bf16WidenedBandsOnThreads } from "./half_gemv.ts";
import { flippedIntoColumns, widenInArena } from "./half_gemv_columns.ts";
import { arenaAddress, arenaScratch, arenaView } from "./half_arena.ts";
import { take } from "../ts/pool.ts";

/**
 * Widened values per band. Wide products (training, prefill) take 8 MB bands: narrower ones made
 * OpenBLAS repack A once per band (measured at m = 704: 2 MB bands ran at 65% of a float32
 * product, 8 MB at 95%). Products of a few rows (decoding) are bound by the widening itself and
 * take bands that stay in L2 between being widened and being read.
 */
const WIDE_BAND_VALUES = 1 << 21;
const NARROW_BAND_VALUES = 1 << 17;
/** Up to this many rows of A, each row is a matrix-vector product (sgemv) per band. */
const GEMV_ROWS = 4;
/**
 * Up to this many rows, BF16 x Wᵀ (decoding) runs in ./half_gemv.ts, widened in registers, where
 * the weight lies outside the arena (widening it in JavaScript for sgemm costs 0.3-0.55 ns a
 * value) or at one row.
 */
const FUSED_ROWS = 8;
/**
 * Two to FUSED_ROWS rows times a BF16 weight in the arena: sgemm over bands that the wasm module
 * widens (0.03-0.05 ns a value) and that stay in L2, 128 KB of BF16. Deno, one thread, loaded
 * machine, ns per weight: m = 8 0.24-0.46 against 0.35-0.84 in the wasm kernel; m = 2 0.18-0.27
 * against 0.27-0.35; m = 4 even; m = 1 0.16-0.27 against 0.15-0.23 (so one row stays there).
 */
const DECODE_BAND_VALUES = 1 << 16;
/**
 * Above FUSED_ROWS and up to this many rows (a prompt's prefill at batch 1), A · bandᵀ runs as
 * band · Aᵀ, transposed into C afterwards: OpenBLAS is faster with the band as the left operand
 * here (Deno, one thread, loaded machine: m = 16 77 against 57 GFLOPS, m = 32 94-118 against
 * 81-91; m = 64 even, m = 128 slower). OpenBLAS's own threads hardly share a flipped product
 * out (m = 32, k = 896, 2 threads: 1.05 ms against 0.64 on one), so on more threads each of ours
 * takes whole bands (./half_gemv.ts).
 */
const FLIPPED_ROWS = 48;

// A flipped product's output before its transpose into C (kernels run one at a time).
let flippedOut = new Float32Array(0);
const flippedOf = (length: number): Float32Array => {
  if (flippedOut.length < length) flippedOut = new Float32Array(length);
  return flippedOut;
};

// One scratch for every product (kernels run one at a time on this thread), with a 32-bit view
// of the same memory for BF16, whose float32 is its bits shifted up 16.
let scratch = new Float32Array(0);
let scratchBits = new Uint32Array(scratch.buffer);
const scratchOf = (length: number): Float32Array => {
  if (scratch.length < length) {
    scratch = new Float32Array(length);
    scratchBits = new Uint32Array(scratch.buffer);
  }
  return scratch.subarray(0, length);
};

/** `bits` as float32 in a scratch (valid until the next call). */
const widenToScratch = (bits: Uint16Array, format: HalfFormat): Float32Array => {
  const at = format === "bf16" ? arenaAddress(bits) : null;
  if (at !== null) {
    const bandAt = arenaScratch("widened band", bits.length * 4);
    widenInArena(at, bandAt, bits.length);
    return arenaView(Float32Array, bandAt, bits.length);
  }
  const out = scratchOf(bits.length);
  const n = bits.length;
  if (format === "bf16") {
    const words = scratchBits;
    for (let i = 0; i < n; i++) words[i] = bits[i] << 16;
  } else {
    const table = halfTable(format);
    for (let i = 0; i < n; i++) out[i] = table[bits[i]];
  }
  return out;
};

/** One 2-D product's operands: A as stored (leading dimension lda) and C [m, n]. */
interface Product {
  readonly a: Float32Array;
  readonly lda: number;
  readonly transposeA: boolean;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly transposeB: boolean;
  readonly c: Float32Array;
}

/**
 * C = op(A) · op(B) for a 16-bit B. Stored [n, k] (transposed; a linear layer's weight) a band
 * of its rows is a band of C's columns; stored [k, n] it is a band of the inner dimension, so
 * the bands' products are summed into C (beta 1 after the first).
 */
const halfProduct = (blas: Blas, p: Product, bits: Uint16Array, format: HalfFormat): void => {
  const { a, lda, transposeA, m, n, k, transposeB, c } = p;
  const decoding = m <= FUSED_ROWS && format === "bf16" && transposeB && !transposeA;
  const widenedInArena = decoding && m > 1 && arenaAddress(bits) !== null;
  if (decoding && !widenedInArena) {
    return bf16RowsTimesTransposed(a, bits, m, n, k, c); // widened in registers
  }
  const width = transposeB ? k : n;
  const flipped = transposeB && !transposeA && FUSED_ROWS < m && m <= FLIPPED_ROWS;
  const bandValues = widenedInArena
    ? DECODE_BAND_VALUES
    : m <= GEMV_ROWS
    ? NARROW_BAND_VALUES
    : WIDE_BAND_VALUES;
  const rows = Math.max(1, Math.floor(bandValues / width));
  // On more threads, the same bands' products shared out among this thread and the workers.
  if (
    (widenedInArena || (flipped && format === "bf16")) && blas.threads > 1 &&
    bf16WidenedBandsOnThreads(blas, a, bits, m, n, k, c, rows, flipped)
  ) return;
  const total = transposeB ? n : k;
  for (let r0 = 0; r0 < total; r0 += rows) {
    const count = Math.min(rows, total - r0);
    const band = widenToScratch(bits.subarray(r0 * width, (r0 + count) * width), format);
    const beta = transposeB || r0 === 0 ? 0 : 1;
    if (m <= GEMV_ROWS && !widenedInArena) {
      // Row i of op(A): contiguous in A [m, k], every lda-th value of A stored [k, m].
      const [rowAt, incX] = transposeA ? [(i: number) => i, lda] : [(i: number) => i * lda, 1];
      for (let i = 0; i < m; i++) {
        if (transposeB) { // c[i, r0 : r0+count] = band · a_i
          const x = a.subarray(rowAt(i));
          blas.sgemv(false, count, k, band, k, x, incX, 0, c.subarray(i * n + r0), 1);
        } else { // c[i, :] (+)= bandᵀ · a_i[r0 : r0+count]
          const x = a.subarray(rowAt(i) + r0 * incX);
          blas.sgemv(true, count, n, band, n, x, incX, beta, c.subarray(i * n), 1);
        }
      }
    } else if (flipped) {
      const product = flippedOf(count * m); // band · Aᵀ, [count, m]
      blas.sgemm(false, true, count, m, k, band, k, a, lda, 0, product, m);
      flippedIntoColumns(product, count, m, c, n, r0);
    } else if (transposeB) {
      blas.sgemm(transposeA, true, m, count, k, a, lda, band, k, 0, c.subarray(r0), n);
    } else {
      // Columns r0.. of A [m, k], or rows r0.. of A stored [k, m].
      const aBand = a.subarray(transposeA ? r0 * lda : r0);
      blas.sgemm(transposeA, false, m, n, count, aBand, lda, band, n, beta, c, n);
    }
  }
};

type Extents = ReturnType<typeof matmulExtents>;

/**
 * Calls `product` on each 2-D product of a batched one: one per batch entry, or one with the batch
 * folded into M where B is shared and A untransposed. `bAt`: where that product's B starts in B's
 * values. Nothing to multiply when C or the inner dimension is empty.
 */
export const eachProduct = (
  { m, k, n, batch, bBatched, foldable }: Extents,
  a: Float32Array,
  transposeA: boolean,
  transposeB: boolean,
  c: Float32Array,
  product: (p: Product, bAt: number) => void,
): void => {
  if (c.length === 0 || k === 0) return;
  const [products, rows] = foldable ? [1, batch * m] : [batch, m];
  for (let t = 0; t < products; t++) {
    product({
      a: a.subarray(t * rows * k, (t + 1) * rows * k),
      lda: transposeA ? rows : k,
      transposeA,
      m: rows,
      n,
      k,
      transposeB,
      c: c.subarray(t * rows * n, (t + 1) * rows * n),
    }, bBatched ? t * k * n : 0);
  }
};

/** C = op(A) · op(B) + beta·C on the BLAS for a float32 B. */
export const sgemmProduct = (blas: Blas, p: Product, b: Float32Array, beta: number): void =>
  blas.sgemm(
    p.transposeA,
    p.transposeB,
    p.m,
    p.n,
    p.k,
    p.a,
    p.lda,
    b,
    p.transposeB ? p.k : p.n,
    beta,
    p.c,
    p.n,
  );

/**
 * [...batch, M, K] x [...batch, K, N] (or a shared rank-2 B) after the optional transposes of
 * the last two axes, as the Kernels contract states; B may be 16-bit.
 */
export const nativeMatmul = (
  blas: Blas,
  a: Float32Array,
  aShape: Shape,
  b: Float32Array | HalfMatrix,
  bShape: Shape,
  transposeA: boolean,
  transposeB: boolean,
): Float32Array => {
  const extents = matmulExtents(aShape, bShape, transposeA, transposeB);
  const { m, k, n, batch } = extents;
  // Every product below writes all of its output (beta 0), so a reused buffer needs no zeroing;
  // an empty inner dimension leaves zeros.
  const out = take("float32", batch * m * n, k === 0) as Float32Array;
  eachProduct(extents, a, transposeA, transposeB, out, (p, bAt) => {
    if (b instanceof HalfMatrix) halfProduct(blas, p, b.bits.subarray(bAt, bAt + k * n), b.format);
    else sgemmProduct(blas, p, b.subarray(bAt, bAt + k * n), 0);
  });
  return out;
};
