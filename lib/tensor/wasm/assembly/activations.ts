// AssemblyScript source of lib/tensor/wasm/activations_wasm.ts (rebuild: npm run build:wasm).
//
// The exponential-bound elementwise kernels of the pure-TS backend (lib/tensor/ts/fused.ts
// hands them over), four float32 lanes at a time: JavaScript cannot vectorize eˣ and spends
// 5-10 ns on each. Addresses in bytes; `n` values are read and written in whole vectors, so the
// caller rounds its regions up to multiples of four values. IEEE float32 arithmetic only (no
// relaxed SIMD), so every runtime gives the same bits.

/** Keeps 2ᵏ a normal float32 (k in [-126, 127]) for every input; beyond, eˣ saturates. */
const HIGHEST: f32 = 88.0;
const LOWEST: f32 = -87.0;

/** 1.5 · 2²³: adding it rounds a float32 of magnitude < 2²² to an integer, in the low bits. */
const ROUNDER: f32 = 12582912.0;

/**
 * The kernels' constants, read from memory in the loops: V8 rebuilds each v128.const in every
 * iteration (a few instructions each), where a load is one (swiglu 1.32 -> 0.98 ns a value).
 */
const CONSTANTS = memory.data<f32>([
  HIGHEST,
  LOWEST,
  1.44269504088896341, // log₂ e
  ROUNDER,
  0.693359375, // ln 2, high part
  -2.12194440e-4, // ln 2, low part
  1.9875691500e-4, // Cephes' expf polynomial, highest degree first
  1.3981999507e-3,
  8.3334519073e-3,
  4.1665795894e-2,
  1.6666665459e-1,
  5.0000001201e-1,
  1.0,
], 16);

/** CONSTANTS[i] in every lane. */
@inline
function constant(i: i32): v128 {
  return v128.load32_splat(CONSTANTS + (<usize> i << 2));
}

/** The first byte the host may use: past the constants, on a 64 KB page. */
export function scratchStart(): usize {
  return (__heap_base + 0xffff) & ~0xffff;
}

/**
 * eˣ per lane, for x clamped to [LOWEST, HIGHEST]: x = k·ln2 + r with |r| ≤ ln2/2 (ln2 split
 * in two so k·LN2_HIGH is exact), eʳ by Cephes' degree-6 expf polynomial (within 2 float32
 * ulps), times 2ᵏ built in the exponent bits. Single-instruction forms only: pmin/pmax (no NaN
 * or ±0 rules to emulate) and rounding by ROUNDER instead of nearest and a saturating conversion.
 */
@inline
function expClamped(v: v128): v128 {
  const x = f32x4.pmax(f32x4.pmin(v, constant(0)), constant(1));
  const shifted = f32x4.add(f32x4.mul(x, constant(2)), constant(3));
  const k = f32x4.sub(shifted, constant(3));
  const r = f32x4.sub(f32x4.sub(x, f32x4.mul(k, constant(4))), f32x4.mul(k, constant(5)));
  let p = f32x4.add(f32x4.mul(constant(6), r), constant(7));
  p = f32x4.add(f32x4.mul(p, r), constant(8));
  p = f32x4.add(f32x4.mul(p, r), constant(9));
  p = f32x4.add(f32x4.mul(p, r), constant(10));
  p = f32x4.add(f32x4.mul(p, r), constant(11));
  const er = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), constant(12));
  // k sits in the low mantissa bits of `shifted`: k + 127 is the exponent field of 2ᵏ.
  const exponent = i32x4.sub(shifted, i32x4.splat(reinterpret<i32>(ROUNDER) - 127));
  return f32x4.mul(er, i32x4.shl(exponent, 23));
}

/** eˣ per lane, 0 below the clamp (a masked score's weight is exactly 0); NaN stays NaN. */
@inline
function exp4(v: v128): v128 {
  return v128.andnot(expClamped(v), f32x4.lt(v, constant(1)));
}

/**
 * out = silu(gate) · up = gate / (1 + e⁻ᵍᵃᵗᵉ) · up. The sigmoids take e⁻ˣ unmasked: where exp4
 * would give 0 (x > 87), 1 + e⁻ˣ rounds to 1 all the same.
 */
export function swiglu(gate: usize, up: usize, out: usize, n: i32): void {
  for (let i: usize = 0; i < <usize> n << 2; i += 16) {
    const x = v128.load(gate + i);
    const s = f32x4.add(constant(12), expClamped(f32x4.neg(x)));
    v128.store(out + i, f32x4.mul(f32x4.div(x, s), v128.load(up + i)));
  }
}

/**
 * dGate = g · up · s · (1 + gate · (1 − s)) and dUp = g · gate · s, with s = sigmoid(gate) and
 * 1 − s taken as e⁻ᵍᵃᵗᵉ · s (no cancellation where s rounds to 1).
 */
export function swigluGrad(g: usize, gate: usize, up: usize, dGate: usize, dUp: usize, n: i32): void {
  for (let i: usize = 0; i < <usize> n << 2; i += 16) {
    const one = constant(12);
    const x = v128.load(gate + i);
    const e = expClamped(f32x4.neg(x));
    const s = f32x4.div(one, f32x4.add(one, e));
    const gs = f32x4.mul(v128.load(g + i), s);
    const slope = f32x4.add(one, f32x4.mul(x, f32x4.mul(e, s)));
    v128.store(dGate + i, f32x4.mul(f32x4.mul(gs, v128.load(up + i)), slope));
    v128.store(dUp + i, f32x4.mul(gs, x));
  }
}

/** The largest of four lanes. */
@inline
function laneMax(v: v128): f32 {
  return max(
    max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)),
    max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)),
  );
}

/** The four lanes' sum, in one order for every width. */
@inline
function laneSum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) +
    (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** Values j .. j + 3 of the row at `from`, −∞ in the lanes at or past `limit` (the width). */
@inline
function rowVector(from: usize, j: i32, lane: v128, limit: v128): v128 {
  const inside = i32x4.lt_s(i32x4.add(lane, i32x4.splat(j)), limit);
  return v128.bitselect(v128.load(from + (<usize> j << 2)), f32x4.splat(-Infinity), inside);
}

/**
 * Softmax of each of `rows` rows of `width` values: eˣ⁻ᵐᵃˣ over their sum, four lanes at a time,
 * value j always in lane j mod 4; a row's last, partial vector reads past the row with the lanes
 * beyond it set to −∞ (weight 0) and writes past it (into the next row's output, written later,
 * or the region's slack). So trailing masked scores change no sum: a row gives the same bits as
 * the row without them (a preallocated KV cache's attention equals the concatenated one's). As
 * lib/tensor/ts/kernels.ts's softmaxRows does in float64, a row of −∞ gives 0 / 0.
 */
export function softmax(x: usize, out: usize, rows: i32, width: i32): void {
  const limit = i32x4.splat(width);
  const lane = i32x4(0, 1, 2, 3);
  const whole = width & ~3; // vectors entirely inside the row; the last, partial one is masked
  for (let row = 0; row < rows; row++) {
    const from = x + (<usize> (row * width) << 2);
    const to = out + (<usize> (row * width) << 2);
    let most = f32x4.splat(-Infinity);
    for (let j = 0; j < whole; j += 4) most = f32x4.pmax(most, v128.load(from + (<usize> j << 2)));
    if (whole < width) most = f32x4.pmax(most, rowVector(from, whole, lane, limit));
    let top = laneMax(most);
    if (top == -Infinity) top = 0;
    const shift = f32x4.splat(top);
    let total = f32x4.splat(0);
    for (let j = 0; j < whole; j += 4) {
      const e = exp4(f32x4.sub(v128.load(from + (<usize> j << 2)), shift));
      v128.store(to + (<usize> j << 2), e);
      total = f32x4.add(total, e);
    }
    if (whole < width) {
      const e = exp4(f32x4.sub(rowVector(from, whole, lane, limit), shift));
      v128.store(to + (<usize> whole << 2), e);
      total = f32x4.add(total, e);
    }
    const total4 = f32x4.splat(laneSum(total));
    for (let j = 0; j < width; j += 4) {
      v128.store(to + (<usize> j << 2), f32x4.div(v128.load(to + (<usize> j << 2)), total4));
    }
  }
}

/**
 * v with 0 in the lanes of values j .. j + 3 at or past `limit` (the width): what lies past a
 * row may be anything, ∞ and NaN included, so products are masked, not their factors.
 */
@inline
function inRow(v: v128, j: i32, lane: v128, limit: v128): v128 {
  return v128.and(v, i32x4.lt_s(i32x4.add(lane, i32x4.splat(j)), limit));
}

/** 1/√(mean of squares + eps) of the row of `width` values at `from`. */
@inline
function inverseRms(from: usize, width: i32, eps: f32, lane: v128, limit: v128): f32 {
  let squares = f32x4.splat(0);
  for (let j = 0; j < width; j += 4) {
    const v = v128.load(from + (<usize> j << 2));
    squares = f32x4.add(squares, inRow(f32x4.mul(v, v), j, lane, limit));
  }
  return 1 / sqrt<f32>(laneSum(squares) / <f32> width + eps);
}

/**
 * RMSNorm of `rows` rows of `width` values: x / √(mean(x²) + eps) · weight. Lanes past a row are
 * read as 0 and written past it (as softmax does).
 */
export function rmsNorm(x: usize, weight: usize, out: usize, rows: i32, width: i32, eps: f32): void {
  const limit = i32x4.splat(width);
  const lane = i32x4(0, 1, 2, 3);
  for (let row = 0; row < rows; row++) {
    const from = x + (<usize> (row * width) << 2);
    const to = out + (<usize> (row * width) << 2);
    const r = f32x4.splat(inverseRms(from, width, eps, lane, limit));
    for (let j = 0; j < width; j += 4) {
      const scaled = f32x4.mul(v128.load(from + (<usize> j << 2)), r);
      v128.store(to + (<usize> j << 2), f32x4.mul(scaled, v128.load(weight + (<usize> j << 2))));
    }
  }
}

/** d x of rmsNorm: r · w · g − x · r³ / width · Σ w g x, with r as in rmsNorm. */
export function rmsNormGrad(
  g: usize,
  x: usize,
  weight: usize,
  out: usize,
  rows: i32,
  width: i32,
  eps: f32,
): void {
  const limit = i32x4.splat(width);
  const lane = i32x4(0, 1, 2, 3);
  for (let row = 0; row < rows; row++) {
    const offset = <usize> (row * width) << 2;
    const r = inverseRms(x + offset, width, eps, lane, limit);
    let dot = f32x4.splat(0);
    for (let j = 0; j < width; j += 4) {
      const at = offset + (<usize> j << 2);
      const wg = f32x4.mul(v128.load(weight + (<usize> j << 2)), v128.load(g + at));
      dot = f32x4.add(dot, inRow(f32x4.mul(wg, v128.load(x + at)), j, lane, limit));
    }
    const along = f32x4.splat((r * r * r * laneSum(dot)) / <f32> width);
    const r4 = f32x4.splat(r);
    for (let j = 0; j < width; j += 4) {
      const at = offset + (<usize> j << 2);
      const wg = f32x4.mul(v128.load(weight + (<usize> j << 2)), v128.load(g + at));
      v128.store(out + at, f32x4.sub(f32x4.mul(r4, wg), f32x4.mul(v128.load(x + at), along)));
    }
  }
}

/** Softmax's backward y · (g − Σ g · y) over each of `rows` rows of `width` values. */
export function softmaxGrad(y: usize, g: usize, out: usize, rows: i32, width: i32): void {
  const limit = i32x4.splat(width);
  const lane = i32x4(0, 1, 2, 3);
  for (let row = 0; row < rows; row++) {
    const offset = <usize> (row * width) << 2;
    let dot = f32x4.splat(0);
    for (let j = 0; j < width; j += 4) {
      const at = offset + (<usize> j << 2);
      dot = f32x4.add(dot, inRow(f32x4.mul(v128.load(y + at), v128.load(g + at)), j, lane, limit));
    }
    const total = f32x4.splat(laneSum(dot));
    for (let j = 0; j < width; j += 4) {
      const at = offset + (<usize> j << 2);
      v128.store(out + at, f32x4.mul(v128.load(y + at), f32x4.sub(v128.load(g + at), total)));
    }
  }
}
