/**
 * Reward functions for GRPO on verifiable math: pure (completion, example) -> number, and
 * rewards as values (built-in names or your own functions) combined over a batch.
 * @module
 */
export type {
  BatchContext,
  BatchExtra,
  BatchRewardFn,
  Example,
  MathColumns,
  RewardFn,
} from "./types.ts";
export { goldAnswer, liftReward } from "./types.ts";
export { answerTag, extractAnswer, finalAnswerIs, lastBoxed, lastMathSpan } from "./extract.ts";
export { normalizeAnswer } from "./normalize.ts";
export { type AnswerTree, parseStructure, type RelationOp } from "./structure.ts";
export {
  answersEqual,
  type Leaf,
  parseAnswer,
  type ParsedAnswer,
  parsedAnswersEqual,
} from "./equal.ts";
export type { Complex, ExprValue } from "./engine.ts";
export type { Rational } from "./exact.ts";
export {
  accuracyReward,
  accuracyRewards,
  batchCorrectness,
  isCorrect,
  parseGold,
} from "./accuracy.ts";
export {
  formatReward,
  reasoningStepsReward,
  tagCountReward,
  tinaFormatReward,
  tinaTagCountReward,
} from "./format.ts";
export {
  type CosineOptions,
  cosineScaled,
  cosineScaledRewards,
  defaultCosineOptions,
  defaultSoftOverlongOptions,
  kimiLengthRewards,
  type SoftOverlongOptions,
  softOverlongPunishment,
  softOverlongRewards,
} from "./length.ts";
export {
  defaultRepetitionOptions,
  type RepetitionOptions,
  repetitionPenalty,
} from "./repetition.ts";
export {
  type BuiltinReward,
  type CombinedRewardFn,
  type CombinedRewards,
  combineRewards,
  type CustomBatchReward,
  type CustomReward,
  makeReward,
  rewardNames,
  type RewardOptions,
  type RewardSpec,
  trlReward,
  type TrlRewardArgs,
} from "./combine.ts";
