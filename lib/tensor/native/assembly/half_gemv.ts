// AssemblyScript source of lib/tensor/native/half_gemv_wasm.ts and, with relaxed SIMD's fused
// multiply-adds, half_gemv_relaxed_wasm.ts (rebuild both: npm run build:wasm).
//
// A few rows times a BF16 matrix stored [n, k] (a linear layer's weight), transposed:
// y[i, j] = Σ_p x[i, p] · w[j, p]. Decoding multiplies one to four rows by each weight, so the
// product is bound by reading and widening the weight: here each 16-bit value is widened in a
// register (BF16 is the top half of a float32) and used at once, eight per step, instead of
// being written out as float32 for a BLAS to read again. At eight rows the product is bound by
// instructions instead: four rows times two weight rows share each widened weight and each
// loaded x vector (8 rows: 1.1-1.2x), fused multiply-adds save a third (1.3-1.5x). Addresses are
// in bytes, in a shared memory the module imports (lib/tensor/native/half_arena.ts: the weights
// live there, so every thread's instance reads them in place).

/**
 * a · b + c: one fused multiply-add where relaxed SIMD is enabled (the module built for Deno and
 * Bun), else a multiply then an add (the portable module). Compile-time: one branch is built.
 */
@inline
function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/**
 * Eight BF16 weights (one v128) as float32 in two steps instead of four: each 32-bit lane holds
 * an even weight in its low half and the next odd one in its high half, so the odd ones are the
 * lanes with the low half cleared and the even ones the lanes shifted up. The rows x are laid out
 * to match (evenFirst on the host): each full block of eight as x0 x2 x4 x6 x1 x3 x5 x7.
 */
@inline
function evens(halves: v128): v128 {
  return i32x4.shl(halves, 16);
}

@inline
function odds(halves: v128): v128 {
  return v128.and(halves, i32x4.splat(0xffff0000));
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
 * Ends four dot products whose first p values are summed in a0..a3: their lanes, then the scalar
 * tail up to k, then a store. Product i is x + i·xStep with BF16 w + i·wStep, stored at
 * y + i·yStep (bytes). Every kernel ends here, so every value is summed in one order.
 */
@inline
function finish4(
  a0: v128, a1: v128, a2: v128, a3: v128,
  x: usize, xStep: usize, w: usize, wStep: usize, p: i32, k: i32, y: usize, yStep: usize,
): void {
  let s0 = lanes(a0), s1 = lanes(a1), s2 = lanes(a2), s3 = lanes(a3);
  const x1 = x + xStep, x2 = x1 + xStep, x3 = x2 + xStep;
  const w1 = w + wStep, w2 = w1 + wStep, w3 = w2 + wStep;
  for (; p < k; p++) {
    s0 += tail(x, w, p);
    s1 += tail(x1, w1, p);
    s2 += tail(x2, w2, p);
    s3 += tail(x3, w3, p);
  }
  store<f32>(y, s0);
  store<f32>(y + yStep, s1);
  store<f32>(y + 2 * yStep, s2);
  store<f32>(y + 3 * yStep, s3);
}

/**
 * The dot products of four rows of x (each k values, `stride` bytes apart) with one BF16 row w,
 * into y, y + ldy, y + 2·ldy, y + 3·ldy (bytes): each widened weight is used four times. Every
 * dot product here sums in the same order (one accumulator: evens then odds, then finish4's
 * lanes and tail), so a value's bits do not depend on how rows and columns are grouped or split
 * across threads.
 */
@inline
function dot4(x: usize, stride: usize, w: usize, k: i32, y: usize, ldy: usize): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let p = 0;
  for (; p + 8 <= k; p += 8) {
    const halves = v128.load(w + (<usize> p << 1));
    const lo = evens(halves);
    const hi = odds(halves);
    const x0 = x + (<usize> p << 2);
    a0 = madd(hi, v128.load(x0, 16), madd(lo, v128.load(x0), a0));
    const x1 = x0 + stride;
    a1 = madd(hi, v128.load(x1, 16), madd(lo, v128.load(x1), a1));
    const x2 = x1 + stride;
    a2 = madd(hi, v128.load(x2, 16), madd(lo, v128.load(x2), a2));
    const x3 = x2 + stride;
    a3 = madd(hi, v128.load(x3, 16), madd(lo, v128.load(x3), a3));
  }
  finish4(a0, a1, a2, a3, x, stride, w, 0, p, k, y, ldy);
}

/**
 * The dot products of four rows of x (each k values, `stride` bytes apart) with two BF16 rows
 * w0 and w1 (`wStride` bytes apart), into y and y + 4 (bytes) for each row i at y + i·ldy: each
 * widened weight is used four times and each x vector twice.
 */
@inline
function dot4x2(x: usize, stride: usize, w: usize, wStride: usize, k: i32, y: usize, ldy: usize): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  const w1 = w + wStride;
  let p = 0;
  // The four rows written out by hand (as in dot4): the eight sums stay locals in registers.
  for (; p + 8 <= k; p += 8) {
    const h0 = v128.load(w + (<usize> p << 1));
    const h1 = v128.load(w1 + (<usize> p << 1));
    const lo0 = evens(h0);
    const hi0 = odds(h0);
    const lo1 = evens(h1);
    const hi1 = odds(h1);
    const x0 = x + (<usize> p << 2);
    let xl = v128.load(x0), xh = v128.load(x0, 16);
    a0 = madd(hi0, xh, madd(lo0, xl, a0));
    b0 = madd(hi1, xh, madd(lo1, xl, b0));
    const x1 = x0 + stride;
    xl = v128.load(x1);
    xh = v128.load(x1, 16);
    a1 = madd(hi0, xh, madd(lo0, xl, a1));
    b1 = madd(hi1, xh, madd(lo1, xl, b1));
    const x2 = x1 + stride;
    xl = v128.load(x2);
    xh = v128.load(x2, 16);
    a2 = madd(hi0, xh, madd(lo0, xl, a2));
    b2 = madd(hi1, xh, madd(lo1, xl, b2));
    const x3 = x2 + stride;
    xl = v128.load(x3);
    xh = v128.load(x3, 16);
    a3 = madd(hi0, xh, madd(lo0, xl, a3));
    b3 = madd(hi1, xh, madd(lo1, xl, b3));
  }
  finish4(a0, a1, a2, a3, x, stride, w, 0, p, k, y, ldy);
  finish4(b0, b1, b2, b3, x, stride, w1, 0, p, k, y + 4, ldy);
}

/**
 * The dot products of one row x (k values) with the four BF16 rows at w, w + apart, w + 2·apart
 * and w + 3·apart (bytes), into y, y + yApart, y + 2·yApart, y + 3·yApart: each loaded x vector
 * is used four times, and the weights come from DRAM in four streams far apart, which its
 * prefetchers serve best (LM head, one thread: 0.09-0.12 ns a weight against 0.18-0.2 for four
 * neighbouring rows and 0.28-0.36 for two).
 */
@inline
function dot1x4(x: usize, w: usize, apart: usize, k: i32, y: usize, yApart: usize): void {
  let a = f32x4.splat(0), b = f32x4.splat(0), c = f32x4.splat(0), d = f32x4.splat(0);
  const w1 = w + apart, w2 = w1 + apart, w3 = w2 + apart;
  let p = 0;
  for (; p + 8 <= k; p += 8) {
    const xp = x + (<usize> p << 2);
    const xl = v128.load(xp), xh = v128.load(xp, 16);
    const at = <usize> p << 1;
    const h0 = v128.load(w + at), h1 = v128.load(w1 + at);
    const h2 = v128.load(w2 + at), h3 = v128.load(w3 + at);
    a = madd(odds(h0), xh, madd(evens(h0), xl, a));
    b = madd(odds(h1), xh, madd(evens(h1), xl, b));
    c = madd(odds(h2), xh, madd(evens(h2), xl, c));
    d = madd(odds(h3), xh, madd(evens(h3), xl, d));
  }
  finish4(a, b, c, d, x, 0, w, apart, p, k, y, yApart);
}

/** The dot product of one row x (k values) with one BF16 row w. */
@inline
function dot(x: usize, w: usize, k: i32): f32 {
  let a = f32x4.splat(0);
  let p = 0;
  for (; p + 8 <= k; p += 8) {
    const halves = v128.load(w + (<usize> p << 1));
    const xp = x + (<usize> p << 2);
    a = madd(odds(halves), v128.load(xp, 16), madd(evens(halves), v128.load(xp), a));
  }
  let s = lanes(a);
  for (; p < k; p++) s += tail(x, w, p);
  return s;
}

/**
 * y [n] = x [k] · wᵀ for one row x and w [n, k] in BF16: rows j, j + n/4, j + n/2, j + 3n/4
 * together, then the last n mod 4 one by one. Each value is the same sum whatever the grouping.
 */
@inline
function rowTimesTransposed(x: usize, w: usize, y: usize, n: i32, k: i32): void {
  const wStride = <usize> k << 1;
  const quarter = n >> 2;
  const apart = <usize> quarter * wStride, yApart = <usize> quarter << 2;
  for (let j = 0; j < quarter; j++) {
    dot1x4(x, w + <usize> j * wStride, apart, k, y + (<usize> j << 2), yApart);
  }
  for (let j = quarter << 2; j < n; j++) {
    store<f32>(y + (<usize> j << 2), dot(x, w + <usize> j * wStride, k));
  }
}

/**
 * y [m, ldy] columns [0, n) = x [m, k] · wᵀ for w [n, k] in BF16: four rows of x times two rows
 * of w at a time (then an odd last w row), then the rows left over (fewer than four) one by one.
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
  const wStride = <usize> k << 1;
  const fours = m & ~3;
  if (fours > 0) {
    let j = 0;
    for (; j + 2 <= n; j += 2) {
      const row = w + <usize> j * wStride;
      for (let i = 0; i < fours; i += 4) {
        dot4x2(x + <usize> i * stride, stride, row, wStride, k, y + <usize> i * yStride + (<usize> j << 2), yStride);
      }
    }
    for (; j < n; j++) {
      const row = w + <usize> j * wStride;
      for (let i = 0; i < fours; i += 4) {
        dot4(x + <usize> i * stride, stride, row, k, y + <usize> i * yStride + (<usize> j << 2), yStride);
      }
    }
  }
  for (let i = fours; i < m; i++) {
    rowTimesTransposed(x + <usize> i * stride, w, y + <usize> i * yStride, n, k);
  }
}

/** Eight BF16 values at src widened to float32 at dst. */
@inline
function widen8(src: usize, dst: usize): void {
  const halves = v128.load(src);
  v128.store(dst, i32x4.shl(i32x4.extend_low_i16x8_u(halves), 16));
  v128.store(dst, i32x4.shl(i32x4.extend_high_i16x8_u(halves), 16), 16);
}

/**
 * dst[i] = the float32 of BF16 src[i] for i < count (dst float32, addresses in bytes): a band of
 * a weight widened for sgemm. Bound by reading the weight from DRAM, so four quarters of the
 * range are read at once (0.17-0.2 ns a value against 0.3 in one sweep; JavaScript: 0.3-0.55).
 */
export function widenBf16(src: usize, dst: usize, count: i32): void {
  const quarter = (count >> 2) & ~7;
  const qs = <usize> quarter << 1, qd = <usize> quarter << 2;
  for (let i = 0; i < quarter; i += 8) {
    const s = src + (<usize> i << 1), d = dst + (<usize> i << 2);
    widen8(s, d);
    widen8(s + qs, d + qd);
    widen8(s + 2 * qs, d + 2 * qd);
    widen8(s + 3 * qs, d + 3 * qd);
  }
  let i = quarter << 2;
  for (; i + 8 <= count; i += 8) widen8(src + (<usize> i << 1), dst + (<usize> i << 2));
  for (; i < count; i++) {
    store<u32>(dst + (<usize> i << 2), <u32> load<u16>(src + (<usize> i << 1)) << 16);
  }
}
