/** Optimizers as composable gradient transformations, learning-rate schedules, state I/O. */
export {
  applyUpdates,
  chain,
  disposeReplaced,
  type GradientTransformation,
  learningRateAt,
  type Schedule,
  type Updated,
} from "./transform.ts";
export { clipByGlobalNorm, type ClipState, globalNorm } from "./clip.ts";
export { adamw, type AdamWOptions, type AdamWState } from "./adamw.ts";
export { sgd, type SgdState } from "./sgd.ts";
export {
  constantSchedule,
  type CosineScheduleOptions,
  cosineWithWarmup,
  linearWithWarmup,
  warmupStepsFromRatio,
} from "./schedule.ts";
export { optimStateFromHost, optimStateToHost } from "./state_io.ts";
