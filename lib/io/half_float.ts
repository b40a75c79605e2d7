/**
 * IEEE binary16 (F16) and bfloat16 (BF16) <-> float32 conversion, bit-exact: decoding is
 * exact (both widen losslessly), encoding rounds to nearest, ties to even, as PyTorch does.
 * Works on raw 16-bit patterns so callers can view file bytes as a Uint16Array.
 */

/** The 16-bit float formats: bfloat16 and IEEE float16. */
export type HalfFormat = "bf16" | "f16";

/** Reinterprets float32 bits; the scratch views are local so the functions stay pure. */
const float32Bits = (values: Float32Array): Uint32Array =>
  new Uint32Array(values.buffer, values.byteOffset, values.length);

/** bfloat16 bit patterns to float32 values (exact). */
export const decodeBf16 = (bits: Uint16Array): Float32Array => {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bits[i] << 16;
  return new Float32Array(out.buffer);
};

/** float32 values to bfloat16 bits, rounding to nearest even (NaN stays NaN). */
export const encodeBf16 = (values: Float32Array): Uint16Array => {
  const words = float32Bits(values);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < words.length; i++) {
    const x = words[i];
    const isNaN = (x & 0x7fffffff) > 0x7f800000;
    // Adding 0x7fff plus the lowest kept bit rounds to nearest, ties to even.
    out[i] = isNaN ? (x >>> 16) | 0x0040 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
};

const f16ToF32Bits = (h: number): number => {
  const sign = (h & 0x8000) << 16;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0;
  if (exponent !== 0) return (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0;
  if (mantissa === 0) return sign >>> 0;
  // Subnormal: shift the mantissa up until its leading 1 becomes the implicit bit.
  const lead = Math.clz32(mantissa) - 21; // leading zeros within the 10-bit field, plus 1
  return (sign | ((113 - lead) << 23) | (((mantissa << lead) & 0x3ff) << 13)) >>> 0;
};

/** IEEE float16 bit patterns to float32 values (exact, subnormals included). */
export const decodeF16 = (bits: Uint16Array): Float32Array => {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = f16ToF32Bits(bits[i]);
  return new Float32Array(out.buffer);
};

/** Drops the low `shift` bits of `value`, rounding to nearest, ties to even. */
const shiftRoundEven = (value: number, shift: number): number => {
  const kept = value >>> shift;
  const rest = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept;
};

const f32BitsToF16 = (x: number): number => {
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 | (mantissa >>> 13) : 0);
  const e = exponent - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): value = m * 2^-24; a carry into bit 10 yields the smallest normal.
    return e < -10 ? sign : sign | shiftRoundEven(mantissa | 0x800000, 14 - e);
  }
  // A carry out of the mantissa bumps the exponent, up to infinity: exactly right.
  return sign | shiftRoundEven((e << 23) | mantissa, 13);
};

/** float32 values to IEEE float16 bits, rounding to nearest even; overflow becomes infinity. */
export const encodeF16 = (values: Float32Array): Uint16Array => {
  const words = float32Bits(values);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < words.length; i++) out[i] = f32BitsToF16(words[i]);
  return out;
};
