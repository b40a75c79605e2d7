/**
 * 16-bit frozen weights kept 16-bit in memory: a tensor handle holding BF16 or F16 bits, and the
 * tables that widen them to float32 on the fly (inside matmul's packing and the embedding
 * lookup), so a 1B-parameter base occupies 2 GB instead of 4.
 */
import { decodeBf16, decodeF16, type HalfFormat } from "../io/half_float.ts";

export type { HalfFormat };

/** A backend buffer of 16-bit floats (the pure-TS backend's handle for 16-bit weights). */
export class HalfMatrix {
  constructor(readonly bits: Uint16Array, readonly format: HalfFormat) {}
  get byteLength(): number {
    return this.bits.byteLength;
  }
}

const tables = new Map<HalfFormat, Float32Array>();

/** Every 16-bit pattern's float32 value (256 KB): widening is one table read. */
export const halfTable = (format: HalfFormat): Float32Array => {
  let table = tables.get(format);
  if (!table) {
    const all = Uint16Array.from({ length: 1 << 16 }, (_, i) => i);
    table = format === "bf16" ? decodeBf16(all) : decodeF16(all);
    tables.set(format, table);
  }
  return table;
};

/** The float32 values of a half buffer. */
export const widenHalf = (h: HalfMatrix): Float32Array =>
  h.format === "bf16" ? decodeBf16(h.bits) : decodeF16(h.bits);
