// AssemblyScript source of lib/tensor/wasm/matmul_wasm.ts (rebuild: npm run build:wasm).
//
// Batched float32 matrix products with 128-bit SIMD, for the products tfjs-wasm runs slowly:
// batched ones (attention) and ones with transposed operands. C[z] = op(A[z]) · B[z], all
// row-major in this module's memory, addresses in bytes.
//
// A is read one scalar at a time through row and column strides and broadcast to four lanes,
// so a transposed A is free. B is read four lanes at a time along its rows: a transposed B is
// first packed with `transpose`. Each step of the inner loop updates a 4 × 8 block of C held in
// eight registers, reusing every loaded value four or eight times.

@inline
function addr(base: usize, index: i32): usize {
  return base + (<usize> index << 2);
}

/** dst[z] = src[z]ᵀ for `batch` row-major [rows, cols] matrices. */
export function transpose(src: usize, dst: usize, batch: i32, rows: i32, cols: i32): void {
  const size = rows * cols;
  for (let z = 0; z < batch; z++) {
    const s = addr(src, z * size);
    const d = addr(dst, z * size);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        store<f32>(addr(d, c * rows + r), load<f32>(addr(s, r * cols + c)));
      }
    }
  }
}

// The three kernels below take matmul's operands (A strided by rs and cs, B and C row-major,
// n wide) and the corner (i, j) of the block of C they compute.

/** Columns [j, j + 8) of rows [i, i + 4) of C = A · B. */
@inline
function block4x8(a: usize, b: usize, c: usize, i: i32, j: i32, k: i32, n: i32, rs: i32, cs: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let a0 = addr(a, i * rs), a1 = addr(a, (i + 1) * rs);
  let a2 = addr(a, (i + 2) * rs), a3 = addr(a, (i + 3) * rs);
  let bp = addr(b, j);
  const aStep = <usize> cs << 2;
  const bStep = <usize> n << 2;
  for (let p = 0; p < k; p++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let s = f32x4.splat(load<f32>(a0));
    c00 = f32x4.add(c00, f32x4.mul(s, b0));
    c01 = f32x4.add(c01, f32x4.mul(s, b1));
    s = f32x4.splat(load<f32>(a1));
    c10 = f32x4.add(c10, f32x4.mul(s, b0));
    c11 = f32x4.add(c11, f32x4.mul(s, b1));
    s = f32x4.splat(load<f32>(a2));
    c20 = f32x4.add(c20, f32x4.mul(s, b0));
    c21 = f32x4.add(c21, f32x4.mul(s, b1));
    s = f32x4.splat(load<f32>(a3));
    c30 = f32x4.add(c30, f32x4.mul(s, b0));
    c31 = f32x4.add(c31, f32x4.mul(s, b1));
    a0 += aStep;
    a1 += aStep;
    a2 += aStep;
    a3 += aStep;
    bp += bStep;
  }
  const row = <usize> n << 2;
  const out = addr(c, i * n + j);
  v128.store(out, c00);
  v128.store(out, c01, 16);
  v128.store(out + row, c10);
  v128.store(out + row, c11, 16);
  v128.store(out + 2 * row, c20);
  v128.store(out + 2 * row, c21, 16);
  v128.store(out + 3 * row, c30);
  v128.store(out + 3 * row, c31, 16);
}

/** Columns [j, j + 8) of row i of C = A · B (the rows left over below a multiple of 4). */
@inline
function block1x8(a: usize, b: usize, c: usize, i: i32, j: i32, k: i32, n: i32, rs: i32, cs: i32): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
  for (let p = 0; p < k; p++) {
    const s = f32x4.splat(load<f32>(addr(a, i * rs + p * cs)));
    const bp = addr(b, p * n + j);
    c0 = f32x4.add(c0, f32x4.mul(s, v128.load(bp)));
    c1 = f32x4.add(c1, f32x4.mul(s, v128.load(bp, 16)));
  }
  const out = addr(c, i * n + j);
  v128.store(out, c0);
  v128.store(out, c1, 16);
}

/** C[i, j] = A[i, :] · B[:, j] one element at a time (columns past the last multiple of 8). */
@inline
function element(a: usize, b: usize, c: usize, i: i32, j: i32, k: i32, n: i32, rs: i32, cs: i32): void {
  let sum: f32 = 0;
  for (let p = 0; p < k; p++) {
    sum += load<f32>(addr(a, i * rs + p * cs)) * load<f32>(addr(b, p * n + j));
  }
  store<f32>(addr(c, i * n + j), sum);
}

/**
 * For z < batch: C[z] (m × n) = A[z] (m × k, element (i, p) at i·rs + p·cs) · B[z] (k × n).
 * Batch strides are in elements; 0 shares one matrix across the batch.
 */
export function matmul(
  a: usize,
  b: usize,
  c: usize,
  batch: i32,
  aBatchStride: i32,
  bBatchStride: i32,
  m: i32,
  k: i32,
  n: i32,
  rs: i32,
  cs: i32,
): void {
  const wide = n & ~7;
  const tall = m & ~3;
  for (let z = 0; z < batch; z++) {
    const az = addr(a, z * aBatchStride);
    const bz = addr(b, z * bBatchStride);
    const cz = addr(c, z * m * n);
    for (let j = 0; j < wide; j += 8) {
      for (let i = 0; i < tall; i += 4) block4x8(az, bz, cz, i, j, k, n, rs, cs);
      for (let i = tall; i < m; i++) block1x8(az, bz, cz, i, j, k, n, rs, cs);
    }
    for (let i = 0; i < m; i++) {
      for (let j = wide; j < n; j++) element(az, bz, cz, i, j, k, n, rs, cs);
    }
  }
}
