/** Optimizers as composable gradient transformations, learning-rate schedules, state I/O. */
export {
  applyUpdates,
  chain,
  disposeReplaced,
  findState,
  type GradientTransformation,
  learningRateAt,
  type Schedule,
  type Updated,
} from "./transform.ts";
export { clipByGlobalNorm, type ClipState, globalNorm, gradNormOf } from "./clip.ts";
export {
  type AdamOptions,
  type AdamState,
  adamw,
  type AdamWOptions,
  type AdamWState,
  isAdamBeta,
  scaleByAdam,
} from "./adamw.ts";
export {
  addDecayedWeights,
  type DecayedWeightsState,
  learningRateOf,
  type LearningRateState,
  scaleByLearningRate,
  sgd,
} from "./scale.ts";
export {
  constantSchedule,
  type CosineScheduleOptions,
  cosineWithWarmup,
  linearWithWarmup,
  warmupStepsFromRatio,
} from "./schedule.ts";
export { optimStateFromHost, optimStateToHost } from "./state_io.ts";
