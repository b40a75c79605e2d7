/**
 * The smoothed line drawn over a noisy raw one: an exponential moving average, debiased at the
 * start (as TensorBoard's smoothing), that steps over NaN gaps without swallowing them.
 */
import type { Point } from "./types.ts";

/** Smoothing weight for a series of `n` points: heavier for longer runs. */
export const smoothingWeight = (n: number): number => n < 10 ? 0 : n < 100 ? 0.6 : 0.85;

/** TensorBoard's debiased exponential moving average of a line's y values. */
export const smoothPoints = (points: readonly Point[], weight: number): Point[] => {
  let average = 0;
  let mass = 0;
  return points.map(([x, y]) => {
    if (!Number.isFinite(y)) return [x, y];
    average = weight * average + (1 - weight) * y;
    mass = weight * mass + (1 - weight);
    return [x, average / mass];
  });
};
