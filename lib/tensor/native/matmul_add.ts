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
import { eachProduct, sgemmProduct } from "./matmul.ts";

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
  const extents = matmulExtents(aShape, bShape, transposeA, transposeB);
  // In place, the output is a second handle to c's buffer (its own dispose counts apart).
  const out = inPlace ? retain(c) : (take("float32", c.length, false) as Float32Array);
  if (!inPlace) out.set(c);
  eachProduct(extents, a, transposeA, transposeB, out, (p, bAt) => {
    sgemmProduct(blas, p, b.subarray(bAt, bAt + extents.k * extents.n), 1);
  });
  return out;
};
