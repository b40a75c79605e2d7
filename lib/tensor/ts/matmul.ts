/**
 * Pure-TS matrix multiply. Both operands are first laid out so that the shared dimension K is
 * contiguous (A as [M, K], B as [N, K]); a 4x4 register block then runs 16 independent
 * accumulators over K, which keeps V8's floating-point units busy without SIMD.
 */

/** Row-major [rows, cols] -> [cols, rows]. */
export const transpose2d = (x: Float32Array, rows: number, cols: number, offset = 0): Float32Array => {
  const out = new Float32Array(rows * cols);
  const BLOCK = 32;
  for (let r0 = 0; r0 < rows; r0 += BLOCK) {
    const r1 = Math.min(r0 + BLOCK, rows);
    for (let c0 = 0; c0 < cols; c0 += BLOCK) {
      const c1 = Math.min(c0 + BLOCK, cols);
      for (let r = r0; r < r1; r++) {
        for (let c = c0; c < c1; c++) out[c * rows + r] = x[offset + r * cols + c];
      }
    }
  }
  return out;
};

/** out[M, N] (written at outOffset) = a[M, K] · bt[N, K]^T. */
export const matmulKContiguous = (
  a: Float32Array,
  aOffset: number,
  bt: Float32Array,
  btOffset: number,
  out: Float32Array,
  outOffset: number,
  m: number,
  n: number,
  k: number,
): void => {
  const m4 = m - (m % 4);
  const n4 = n - (n % 4);
  for (let i = 0; i < m4; i += 4) {
    const a0 = aOffset + i * k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
    for (let j = 0; j < n4; j += 4) {
      const b0 = btOffset + j * k, b1 = b0 + k, b2 = b1 + k, b3 = b2 + k;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let p = 0; p < k; p++) {
        const x0 = a[a0 + p], x1 = a[a1 + p], x2 = a[a2 + p], x3 = a[a3 + p];
        const y0 = bt[b0 + p], y1 = bt[b1 + p], y2 = bt[b2 + p], y3 = bt[b3 + p];
        c00 += x0 * y0;
        c01 += x0 * y1;
        c02 += x0 * y2;
        c03 += x0 * y3;
        c10 += x1 * y0;
        c11 += x1 * y1;
        c12 += x1 * y2;
        c13 += x1 * y3;
        c20 += x2 * y0;
        c21 += x2 * y1;
        c22 += x2 * y2;
        c23 += x2 * y3;
        c30 += x3 * y0;
        c31 += x3 * y1;
        c32 += x3 * y2;
        c33 += x3 * y3;
      }
      const o0 = outOffset + i * n + j, o1 = o0 + n, o2 = o1 + n, o3 = o2 + n;
      out[o0] = c00, out[o0 + 1] = c01, out[o0 + 2] = c02, out[o0 + 3] = c03;
      out[o1] = c10, out[o1 + 1] = c11, out[o1 + 2] = c12, out[o1 + 3] = c13;
      out[o2] = c20, out[o2 + 1] = c21, out[o2 + 2] = c22, out[o2 + 3] = c23;
      out[o3] = c30, out[o3 + 1] = c31, out[o3 + 2] = c32, out[o3 + 3] = c33;
    }
    for (let j = n4; j < n; j++) {
      for (let r = 0; r < 4; r++) out[outOffset + (i + r) * n + j] = dot(a, aOffset + (i + r) * k, bt, btOffset + j * k, k);
    }
  }
  for (let i = m4; i < m; i++) {
    for (let j = 0; j < n; j++) out[outOffset + i * n + j] = dot(a, aOffset + i * k, bt, btOffset + j * k, k);
  }
};

const dot = (a: Float32Array, ao: number, b: Float32Array, bo: number, k: number): number => {
  let s = 0;
  for (let p = 0; p < k; p++) s += a[ao + p] * b[bo + p];
  return s;
};

/**
 * Batched matmul over row-major buffers. `batch` products; b is shared when `bBatched` is false.
 */
export const matmul = (
  a: Float32Array,
  b: Float32Array,
  batch: number,
  bBatched: boolean,
  m: number,
  n: number,
  k: number,
  transposeA: boolean,
  transposeB: boolean,
): Float32Array => {
  const out = new Float32Array(batch * m * n);
  let sharedBt: Float32Array | null = null;
  for (let t = 0; t < batch; t++) {
    const at = transposeA ? transpose2d(a, k, m, t * m * k) : a;
    const aOff = transposeA ? 0 : t * m * k;
    const bOffset = bBatched ? t * k * n : 0;
    let bt: Float32Array;
    let btOff: number;
    if (transposeB) {
      bt = b;
      btOff = bOffset;
    } else if (!bBatched) {
      sharedBt ??= transpose2d(b, k, n, 0);
      bt = sharedBt;
      btOff = 0;
    } else {
      bt = transpose2d(b, k, n, bOffset);
      btOff = 0;
    }
    matmulKContiguous(at, aOff, bt, btOff, out, t * m * n, m, n, k);
  }
  return out;
};
