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

/** The sum of a vector's four lanes. */
@inline
function lanes(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) +
    f32x4.extract_lane(v, 3);
}

/** x[p] for a float32 x and a BF16 w's p-th value: the scalar tail of a dot product. */
@inline
function tail(x: usize, w: usize, p: i32): f32 {
  return reinterpret<f32>(<u32> load<u16>(w + (<usize> p << 1)) << 16) * load<f32>(x + (<usize> p << 2));
}

/**
 * The dot products of four rows of x (each k values, `stride` bytes apart) with one BF16 row w,
 * into y, y + ldy, y + 2·ldy, y + 3·ldy (bytes): each widened weight is used four times.
 */
@inline
function dot4(x: usize, stride: usize, w: usize, k: i32, y: usize, ldy: usize): void {
  let l0 = f32x4.splat(0), h0 = f32x4.splat(0), l1 = f32x4.splat(0), h1 = f32x4.splat(0);
  let l2 = f32x4.splat(0), h2 = f32x4.splat(0), l3 = f32x4.splat(0), h3 = f32x4.splat(0);
  let p = 0;
  for (; p + 8 <= k; p += 8) {
    const halves = v128.load(w + (<usize> p << 1));
    const lo = i32x4.shl(i32x4.extend_low_i16x8_u(halves), 16);
    const hi = i32x4.shl(i32x4.extend_high_i16x8_u(halves), 16);
    const x0 = x + (<usize> p << 2);
    l0 = f32x4.add(l0, f32x4.mul(lo, v128.load(x0)));
    h0 = f32x4.add(h0, f32x4.mul(hi, v128.load(x0, 16)));
    const x1 = x0 + stride;
    l1 = f32x4.add(l1, f32x4.mul(lo, v128.load(x1)));
    h1 = f32x4.add(h1, f32x4.mul(hi, v128.load(x1, 16)));
    const x2 = x1 + stride;
    l2 = f32x4.add(l2, f32x4.mul(lo, v128.load(x2)));
    h2 = f32x4.add(h2, f32x4.mul(hi, v128.load(x2, 16)));
    const x3 = x2 + stride;
    l3 = f32x4.add(l3, f32x4.mul(lo, v128.load(x3)));
    h3 = f32x4.add(h3, f32x4.mul(hi, v128.load(x3, 16)));
  }
  let s0 = lanes(f32x4.add(l0, h0)), s1 = lanes(f32x4.add(l1, h1));
  let s2 = lanes(f32x4.add(l2, h2)), s3 = lanes(f32x4.add(l3, h3));
  for (; p < k; p++) {
    s0 += tail(x, w, p);
    s1 += tail(x + stride, w, p);
    s2 += tail(x + 2 * stride, w, p);
    s3 += tail(x + 3 * stride, w, p);
  }
  store<f32>(y, s0);
  store<f32>(y + ldy, s1);
  store<f32>(y + 2 * ldy, s2);
  store<f32>(y + 3 * ldy, s3);
}

/**
 * y [m, ldy] columns [0, n) = x [m, k] · wᵀ for w [n, k] in BF16: four rows of x at a time share
 * each widened weight; each w row is read from L1 once per four rows.
 */
export function bf16RowsTimesTransposed(
  x: usize,
  w: usize,
  y: usize,
  m: i32,
  n: i32,
  k: i32,
  ldy: i32,
): void {
  const stride = <usize> k << 2;
  const yStride = <usize> ldy << 2;
  for (let j = 0; j < n; j++) {
    const row = w + (<usize> (j * k) << 1);
    let i = 0;
    for (; i + 4 <= m; i += 4) {
      dot4(x + <usize> i * stride, stride, row, k, y + <usize> i * yStride + (<usize> j << 2), yStride);
    }
    for (; i < m; i++) {
      store<f32>(y + <usize> i * yStride + (<usize> j << 2), dot(x + <usize> i * stride, row, k));
    }
  }
}
