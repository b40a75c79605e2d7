/**
 * Host side of the BF16 row-times-weight module (assembly/half_gemv.ts) on the calling thread:
 * a few rows x [m, k] times a BF16 weight stored [n, k], transposed, for a range of output
 * columns, each weight widened in a register as it is used (one row: 0.09-0.2 ns a weight,
 * against 0.8-0.9 for widening to float32 in JS and sgemv over it). The module imports the arena's
 * shared memory (./half_arena.ts): rows and outputs lie there, and so do the weights the native
 * backend uploaded, which are read in place; a weight elsewhere is copied in through a band of
 * L2 size per thread. Synchronous; the module is instantiated on first use, once per thread.
 * Also the other way to compute such columns, by sgemm over a band that the module widens in the
 * arena (widenedColumns), and the module's widening itself (widenInArena).
 */
import { halfGemvRelaxedWasmBase64 } from "./half_gemv_relaxed_wasm.ts";
import { halfGemvWasmBase64 } from "./half_gemv_wasm.ts";
import { arenaAddress, arenaMemory, arenaScratch, arenaView } from "./half_arena.ts";
import type { Blas } from "./blas.ts";
import { embeddedBytes } from "../wasm/host.ts";

interface HalfGemvExports {
  bf16RowsTimesTransposed(
    x: number,
    w: number,
    y: number,
    m: number,
    n: number,
    k: number,
    ldy: number,
  ): void;
  widenBf16(src: number, dst: number, count: number): void;
}

/** Weight values per copied band: 256 KB of BF16, read twice (copied in, then used) from L2. */
const BAND_VALUES = 1 << 17;
/** Bytes of one thread's band for weights outside the arena. */
export const BAND_BYTES = BAND_VALUES * 2;

/**
 * The build with fused multiply-adds where the runtime validates relaxed SIMD (Deno, Bun: at
 * 8 rows 1.3-1.5x faster here), else the portable one (Node 20).
 */
const moduleBytes = (): Uint8Array<ArrayBuffer> => {
  const relaxed = embeddedBytes(halfGemvRelaxedWasmBase64);
  return WebAssembly.validate(relaxed) ? relaxed : embeddedBytes(halfGemvWasmBase64);
};

let loaded: HalfGemvExports | null = null;
/** This thread's instance of the module on `memory` (the arena's: workers are handed it). */
export const halfGemvModule = (memory = arenaMemory()): HalfGemvExports => {
  loaded ??= new WebAssembly.Instance(new WebAssembly.Module(moduleBytes()), {
    env: { memory },
  }).exports as never;
  return loaded;
};

/** Throws unless the operands hold [m, k] x [n, k]ᵀ -> [m, n]. */
export const checkOperands = (
  x: ArrayLike<number>,
  bits: ArrayLike<number>,
  m: number,
  n: number,
  k: number,
  out: ArrayLike<number>,
): void => {
  if (x.length < m * k || bits.length < n * k || out.length < m * n) {
    throw new Error(`bf16RowsTimesTransposed: operands too short for [${m}, ${k}] x [${n}, ${k}]ᵀ`);
  }
};

/**
 * A product laid out in the arena: rows x [m, k] at xAt, out [m, n] at outAt (bytes), and the
 * weight [n, k] either in the arena at wAt, or (wAt null) in `bits`, copied in band by band.
 */
export interface ColumnsProduct {
  readonly xAt: number;
  readonly outAt: number;
  readonly wAt: number | null;
  readonly bits: Uint16Array | null;
  readonly m: number;
  readonly n: number;
  readonly k: number;
}

/**
 * Columns [begin, end) of `p`'s out (row i's at outAt + 4·(i·n + j)). Each value depends only on
 * its row and column, so any split of the columns gives the same bits. `bandAt`: this thread's
 * band (BAND_BYTES) for a weight outside the arena.
 */
export const productColumns = (
  p: ColumnsProduct,
  begin: number,
  end: number,
  bandAt: number,
): void => {
  const { xAt, outAt, wAt, m, n, k } = p;
  const wasm = halfGemvModule();
  if (wAt !== null) {
    return wasm.bf16RowsTimesTransposed(
      xAt,
      wAt + begin * k * 2,
      outAt + begin * 4,
      m,
      end - begin,
      k,
      n,
    );
  }
  const rows = Math.max(1, Math.floor(BAND_VALUES / k));
  for (let r0 = begin; r0 < end; r0 += rows) {
    const count = Math.min(rows, end - r0);
    // A view per band: the memory may have grown since (each thread sees its current size).
    arenaView(Uint16Array, bandAt, count * k).set(p.bits!.subarray(r0 * k, (r0 + count) * k));
    wasm.bf16RowsTimesTransposed(xAt, bandAt, outAt + r0 * 4, m, count, k, n);
  }
};

/**
 * x [m, k] into `into` as the kernel reads rows: each full block of eight values of a row as
 * x0 x2 x4 x6 x1 x3 x5 x7 (it widens the even and the odd weights of a block apart), the last
 * k mod 8 in order.
 */
export const evenFirst = (x: Float32Array, m: number, k: number, into: Float32Array): void => {
  const blocks = k - (k % 8);
  for (let i = 0; i < m; i++) {
    const row = i * k;
    for (let p = row; p < row + blocks; p += 8) {
      for (let q = 0; q < 4; q++) {
        into[p + q] = x[p + 2 * q];
        into[p + 4 + q] = x[p + 2 * q + 1];
      }
    }
    into.set(x.subarray(row + blocks, row + k), row + blocks);
  }
};

/**
 * Lays x [m, k] (evenFirst) and room for out [m, n] in this thread's scratch of the arena, with
 * the weight in place when the native backend uploaded it there.
 */
export const arenaProduct = (
  x: Float32Array,
  bits: Uint16Array,
  m: number,
  n: number,
  k: number,
): ColumnsProduct => {
  const xAt = arenaScratch("rows", m * k * 4);
  const outAt = arenaScratch("out", m * n * 4);
  evenFirst(x, m, k, arenaView(Float32Array, xAt, m * k));
  const wAt = arenaAddress(bits);
  return { xAt, outAt, wAt, bits: wAt === null ? bits : null, m, n, k };
};

/**
 * out[i·n + j] = Σ_p x[i·k + p] · w[j·k + p] for i < m and begin <= j < end: x [m, k] float32
 * rows, `bits` [n, k] BF16, on this thread alone (./half_gemv.ts shares larger ones out).
 */
export const bf16Columns = (
  x: Float32Array,
  bits: Uint16Array,
  m: number,
  n: number,
  k: number,
  begin: number,
  end: number,
  out: Float32Array,
): void => {
  checkOperands(x, bits, m, n, k, out);
  if (!(0 <= begin && begin <= end && end <= n)) {
    throw new Error(`bf16Columns: columns [${begin}, ${end}) are not within [0, ${n})`);
  }
  const p = arenaProduct(x, bits, m, n, k);
  productColumns(p, begin, end, arenaScratch("band", BAND_BYTES));
  const result = arenaView(Float32Array, p.outAt, m * n);
  for (let i = 0; i < m; i++) {
    out.set(result.subarray(i * n + begin, i * n + end), i * n + begin);
  }
};

/**
 * Columns [begin, end) of `p`'s out by sgemm: the weight's rows begin..end (in the arena at wAt)
 * widened into the band at `bandAt`, times the rows at xAt, stored in order (not evenFirst);
 * `flipped`: as band · rowsᵀ into [end - begin, m] after the band, then transposed into out. The
 * same call as the one-thread loop in ./matmul.ts makes for that band, so the same bits.
 */
export const widenedColumns = (
  sgemm: Blas["sgemm"],
  p: ColumnsProduct,
  begin: number,
  end: number,
  bandAt: number,
  flipped: boolean,
): void => {
  const { xAt, outAt, wAt, m, n, k } = p;
  const count = end - begin;
  widenInArena(wAt! + begin * k * 2, bandAt, count * k);
  const x = arenaView(Float32Array, xAt, m * k);
  const band = arenaView(Float32Array, bandAt, count * k);
  const out = arenaView(Float32Array, outAt + begin * 4, (m - 1) * n + count);
  if (!flipped) return sgemm(false, true, m, count, k, x, k, band, k, 0, out, n);
  const product = arenaView(Float32Array, bandAt + count * k * 4, count * m);
  sgemm(false, true, count, m, k, band, k, x, k, 0, product, m);
  flippedIntoColumns(product, count, m, out, n, 0);
};

/**
 * A flipped product's output, `flipped` [count, m] (band · rowsᵀ), into columns
 * [at, at + count) of C [m, n]: C[i, at + j] = flipped[j, i].
 */
export const flippedIntoColumns = (
  flipped: Float32Array,
  count: number,
  m: number,
  c: Float32Array,
  n: number,
  at: number,
): void => {
  for (let j = 0; j < count; j++) {
    for (let i = 0; i < m; i++) c[i * n + at + j] = flipped[j * m + i];
  }
};

/** `count` BF16 values from arena byte `srcAt` widened to float32 at arena byte `dstAt`. */
export const widenInArena = (srcAt: number, dstAt: number, count: number): void =>
  halfGemvModule().widenBf16(srcAt, dstAt, count);
