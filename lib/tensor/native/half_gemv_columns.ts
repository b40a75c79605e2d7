/**
 * Host side of the BF16 row-times-weight module (assembly/half_gemv.ts) on the calling thread:
 * a few rows x [m, k] times a BF16 weight stored [n, k], transposed, for a range of output
 * columns. The weight goes through the module's memory in bands of L2 size, each widened in
 * registers as it is used (0.15-0.2 ns a weight, against 0.8-0.9 for widening to float32 in JS
 * and sgemv over it). Synchronous; the module is compiled on first use, once per thread.
 */
import { halfGemvRelaxedWasmBase64 } from "./half_gemv_relaxed_wasm.ts";
import { halfGemvWasmBase64 } from "./half_gemv_wasm.ts";

interface HalfGemvExports {
  readonly memory: WebAssembly.Memory;
  bf16RowsTimesTransposed(
    x: number,
    w: number,
    y: number,
    m: number,
    n: number,
    k: number,
    ldy: number,
  ): void;
}

/** Weight values per band: 256 KB of BF16, read twice (copied in, then used) from L2. */
const BAND_VALUES = 1 << 17;
const PAGE_BYTES = 65536;

const decode = (base64: string): Uint8Array<ArrayBuffer> =>
  Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));

/**
 * The build with fused multiply-adds where the runtime validates relaxed SIMD (Deno, Bun: at
 * 8 rows 1.3-1.5x faster here), else the portable one (Node 20).
 */
const moduleBytes = (): Uint8Array<ArrayBuffer> => {
  const relaxed = decode(halfGemvRelaxedWasmBase64);
  return WebAssembly.validate(relaxed) ? relaxed : decode(halfGemvWasmBase64);
};

let loaded: HalfGemvExports | null = null;
const module = (): HalfGemvExports => {
  if (!loaded) {
    loaded = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes())).exports as never;
  }
  return loaded as HalfGemvExports;
};

const align16 = (bytes: number): number => Math.ceil(bytes / 16) * 16;

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
 * out[i·n + j] = Σ_p x[i·k + p] · w[j·k + p] for i < m and begin <= j < end: x [m, k] float32
 * rows, `bits` [n, k] BF16. Each value depends only on its row and column, so any split of the
 * columns gives the same bits. Views into the module's memory are made after it grows (growing
 * detaches them).
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
  const wasm = module();
  const rows = Math.max(1, Math.floor(BAND_VALUES / k));
  const xAt = 0;
  const yAt = align16(m * k * 4);
  const wAt = yAt + align16(m * rows * 4);
  const needed = wAt + align16(rows * k * 2);
  const have = wasm.memory.buffer.byteLength;
  if (have < needed) wasm.memory.grow(Math.ceil((needed - have) / PAGE_BYTES));
  const buffer = wasm.memory.buffer;
  new Float32Array(buffer, xAt, m * k).set(x.subarray(0, m * k));
  const y = new Float32Array(buffer, yAt, m * rows);
  for (let r0 = begin; r0 < end; r0 += rows) {
    const count = Math.min(rows, end - r0);
    new Uint16Array(buffer, wAt, count * k).set(bits.subarray(r0 * k, (r0 + count) * k));
    wasm.bf16RowsTimesTransposed(xAt, wAt, yAt, m, count, k, count);
    for (let i = 0; i < m; i++) out.set(y.subarray(i * count, (i + 1) * count), i * n + r0);
  }
};
