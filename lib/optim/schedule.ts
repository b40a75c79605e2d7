/**
 * Learning-rate schedules, `(step) => lr`, with Hugging Face transformers' exact formulas
 * (the trainer TRL and Tina ran on). `step` is the 0-based index of the optimizer update, as
 * transformers' LambdaLR sees it: with warmup, the very first update uses lr 0.
 */
import type { Schedule } from "./transform.ts";

const checkSteps = (name: string, warmupSteps: number, totalSteps: number): void => {
  if (
    !Number.isInteger(warmupSteps) || !Number.isInteger(totalSteps) || warmupSteps < 0 ||
    totalSteps < 0
  ) {
    throw new Error(
      `${name}: warmupSteps (${warmupSteps}) and totalSteps (${totalSteps}) must be integers >= 0`,
    );
  }
};

/** The same learning rate at every step. */
export const constantSchedule = (lr: number): Schedule => () => lr;

/** transformers' warmup: `warmup_steps` if set, else ceil(ratio · total). */
export const warmupStepsFromRatio = (ratio: number, totalSteps: number): number =>
  Math.ceil(ratio * totalSteps);

/** Linear warmup from 0 to `peak`, then linear decay to 0 at `totalSteps` (get_linear_schedule_with_warmup). */
export const linearWithWarmup = (
  { peak, warmupSteps, totalSteps }: {
    readonly peak: number;
    readonly warmupSteps: number;
    readonly totalSteps: number;
  },
): Schedule => {
  checkSteps("linearWithWarmup", warmupSteps, totalSteps);
  return (step) =>
    step < warmupSteps
      ? peak * step / Math.max(1, warmupSteps)
      : peak * Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
};

/** A cosine decay with linear warmup. */
export interface CosineScheduleOptions {
  /** The learning rate after warmup. */
  readonly peak: number;
  /** Steps of linear warmup from 0 (default 0). */
  readonly warmupSteps?: number;
  /** The horizon: the cosine reaches its floor here. */
  readonly totalSteps: number;
  /** The floor as a fraction of `peak` (Tina: 0.1); transformers' `min_lr_rate`. */
  readonly minRatio?: number;
  /** Number of cosine waves over the decay; 0.5 is one half-cosine from peak to the floor. */
  readonly numCycles?: number;
}

/**
 * Linear warmup, then cosine decay to `minRatio · peak`
 * (transformers' get_cosine_with_min_lr_schedule_with_warmup; with minRatio 0 it is
 * get_cosine_schedule_with_warmup). As there, progress is not clamped past `totalSteps`.
 */
export const cosineWithWarmup = (
  { peak, warmupSteps = 0, totalSteps, minRatio = 0, numCycles = 0.5 }: CosineScheduleOptions,
): Schedule => {
  checkSteps("cosineWithWarmup", warmupSteps, totalSteps);
  if (!(minRatio >= 0 && minRatio <= 1)) {
    throw new Error(`cosineWithWarmup: minRatio ${minRatio} is not in [0, 1]`);
  }
  return (step) => {
    if (step < warmupSteps) return peak * step / Math.max(1, warmupSteps);
    const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
    const wave = 0.5 * (1 + Math.cos(Math.PI * numCycles * 2 * progress));
    return peak * Math.max(0, wave * (1 - minRatio) + minRatio);
  };
};
