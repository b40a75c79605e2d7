/**
 * c + op(a) · op(b) on the BLAS (Kernels.matmulAdd): sgemm accumulates onto c (beta = 1), in c's
 * own buffer when the caller gives it up (`inPlace`), else onto a copy: at most a memcpy where a
 * product and an add would take a pass of JavaScript over the output. Float32 operands only; a
 * 16-bit b takes the product and an add.
 */
import type { Shape } from "../kernels.ts";
import { matmulExtents } from "../shape.ts";
import { retain, take } from "../ts/pool.ts";
import type { Blas } from "./blas.ts";

export const nativeMatmulAdd = (
  blas: Blas,
  c: Float32Array,
  a: Float32Array,
  aShape: Shape,
  b: Float32Array,
  bShape: Shape,
  transposeA: boolean,
  transposeB: boolean,
  inPlace: boolean,
): Float32Array => {
  const { m, k, n, batch, bBatched, foldable } = matmulExtents(
    aShape,
    bShape,
    transposeA,
    transposeB,
  );
  // In place, the output is a second handle to c's buffer (its own dispose counts apart).
  const out = inPlace ? retain(c) : (take("float32", c.length, false) as Float32Array);
  if (!inPlace) out.set(c);
  if (out.length === 0 || k === 0) return out;
  // A shared right operand and an untransposed left one: one product with the batch in M.
  const [products, rows] = foldable ? [1, batch * m] : [batch, m];
  for (let t = 0; t < products; t++) {
    const bAt = bBatched ? t * k * n : 0;
    blas.sgemm(
      transposeA,
      transposeB,
      rows,
      n,
      k,
      a.subarray(t * rows * k, (t + 1) * rows * k),
      transposeA ? rows : k,
      b.subarray(bAt, bAt + k * n),
      transposeB ? k : n,
      1,
      out.subarray(t * rows * n, (t + 1) * rows * n),
      n,
    );
  }
  return out;
};
