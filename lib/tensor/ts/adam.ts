/**
 * Adam's moment update in one kernel call per tensor (Kernels.adamMoments), where the composed
 * ops take twelve, each with its own buffer. Every operation is rounded to float32 where the
 * composed ops store a float32 result (Math.fround, or the store itself), and the scalars as the
 * composed ops upload them, so the bits equal theirs.
 */
import type { AdamCoefficients } from "../kernels.ts";
import { take } from "./pool.ts";

const f32 = Math.fround;

/**
 * m1 = b1·m + (1 − b1)·g and v1 = b2·v + (1 − b2)·g². Two loops in two small functions with
 * scalar arguments: Bun ran one loop doing it all, or these taking their scalars in an array, at
 * 17-21 ns a value against ~7 (Deno 7-9 either way; the composed ops 9-14 on both at 1M values).
 */
const moments = (
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  m1: Float32Array,
  v1: Float32Array,
  keep1: number,
  take1: number,
  keep2: number,
  take2: number,
): void => {
  for (let i = 0; i < g.length; i++) {
    const gi = g[i];
    m1[i] = f32(m[i] * keep1) + f32(gi * take1);
    v1[i] = f32(v[i] * keep2) + f32(f32(gi * gi) * take2);
  }
};

/** m1 / (√v1 / rootBias2 + eps) · biasCorrection1. */
const directionOf = (
  m1: Float32Array,
  v1: Float32Array,
  out: Float32Array,
  root2: number,
  epsilon: number,
  correction1: number,
): void => {
  for (let i = 0; i < out.length; i++) {
    out[i] = f32(m1[i] / f32(f32(f32(Math.sqrt(v1[i])) / root2) + epsilon)) * correction1;
  }
};

/** [direction, m1, v1] of Adam for gradients g and moments m, v (see Kernels.adamMoments). */
export const adamMoments = (
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  { b1, b2, eps, biasCorrection1, rootBias2 }: AdamCoefficients,
): [Float32Array, Float32Array, Float32Array] => {
  const [direction, m1, v1] = [0, 1, 2].map(() => take("float32", g.length, false) as Float32Array);
  moments(g, m, v, m1, v1, f32(b1), f32(1 - b1), f32(b2), f32(1 - b2));
  directionOf(m1, v1, direction, f32(rootBias2), f32(eps), f32(biasCorrection1));
  return [direction, m1, v1];
};
