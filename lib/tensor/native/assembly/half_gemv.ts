// AssemblyScript source of lib/tensor/native/half_gemv_wasm.ts (rebuild: npm run build:wasm).
//
// A few rows times a BF16 matrix stored [n, k] (a linear layer's weight), transposed:
// y[i, j] = Σ_p x[i, p] · w[j, p]. Decoding multiplies one to four rows by each weight, so the
// product is bound by reading and widening the weight: here each 16-bit value is widened in a
// register (BF16 is the top half of a float32) and used at once, eight per step, instead of
// being written out as float32 for a BLAS to read again. Addresses are in bytes.

/** Σ_p x[p] · w[p] over k values: float32 x, BF16 w. */
@inline
function dot(x: usize, w: usize, k: i32): f32 {
  let low = f32x4.splat(0), high = f32x4.splat(0);
  let p = 0;
  for (; p + 8 <= k; p += 8) {
    const halves = v128.load(w + (<usize> p << 1));
    const xp = x + (<usize> p << 2);
    low = f32x4.add(low, f32x4.mul(i32x4.shl(i32x4.extend_low_i16x8_u(halves), 16), v128.load(xp)));
    high = f32x4.add(
      high,
      f32x4.mul(i32x4.shl(i32x4.extend_high_i16x8_u(halves), 16), v128.load(xp, 16)),
    );
  }
  const sum = f32x4.add(low, high);
  let s = f32x4.extract_lane(sum, 0) + f32x4.extract_lane(sum, 1) +
    f32x4.extract_lane(sum, 2) + f32x4.extract_lane(sum, 3);
  for (; p < k; p++) {
    const wide = reinterpret<f32>(<u32> load<u16>(w + (<usize> p << 1)) << 16);
    s += wide * load<f32>(x + (<usize> p << 2));
  }
  return s;
}

/** y [m, ldy] columns [0, n) = x [m, k] · wᵀ for w [n, k] in BF16; each w row read m times from L1. */
export function bf16RowsTimesTransposed(
  x: usize,
  w: usize,
  y: usize,
  m: i32,
  n: i32,
  k: i32,
  ldy: i32,
): void {
  for (let j = 0; j < n; j++) {
    const row = w + (<usize> (j * k) << 1);
    for (let i = 0; i < m; i++) {
      store<f32>(y + (<usize> (i * ldy + j) << 2), dot(x + (<usize> (i * k) << 2), row, k));
    }
  }
}
