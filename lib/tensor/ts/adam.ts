/**
 * Adam's moment update in one pass over a tensor (Kernels.adamMoments), where the composed ops
 * take twelve, each a kernel call with its own buffer. Every operation is rounded to float32
 * (Math.fround) where the composed ops store a float32 result, and the scalars are rounded as
 * the composed ops upload them, so the bits equal theirs.
 */
import type { AdamCoefficients } from "../kernels.ts";
import { take } from "./pool.ts";

const f32 = Math.fround;

/** [direction, m1, v1] of Adam for gradients g and moments m, v (see Kernels.adamMoments). */
export const adamMoments = (
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  { b1, b2, eps, biasCorrection1, rootBias2 }: AdamCoefficients,
): [Float32Array, Float32Array, Float32Array] => {
  const n = g.length;
  const [direction, m1, v1] = [0, 1, 2].map(() => take("float32", n, false) as Float32Array);
  const [keep1, take1, keep2, take2] = [f32(b1), f32(1 - b1), f32(b2), f32(1 - b2)];
  const [root2, epsilon, correction1] = [f32(rootBias2), f32(eps), f32(biasCorrection1)];
  for (let i = 0; i < n; i++) {
    const gi = g[i];
    const mi = f32(f32(m[i] * keep1) + f32(gi * take1));
    const vi = f32(f32(v[i] * keep2) + f32(f32(gi * gi) * take2));
    const denominator = f32(f32(f32(Math.sqrt(vi)) / root2) + epsilon);
    m1[i] = mi;
    v1[i] = vi;
    direction[i] = f32(mi / denominator) * correction1;
  }
  return [direction, m1, v1];
};
