/** Reward functions for GRPO on verifiable math: pure (completion, example) -> number. */
export type { BatchContext, BatchExtra, BatchRewardFn, Example, RewardFn } from "./types.ts";
export { goldAnswer, liftReward } from "./types.ts";
export { answerTag, extractAnswer, finalAnswerIs, lastBoxed, lastMathSpan } from "./extract.ts";
export { normalizeAnswer } from "./normalize.ts";
export { type AnswerTree, parseStructure } from "./structure.ts";
export { answersEqual, parseAnswer, type ParsedAnswer, parsedAnswersEqual } from "./equal.ts";
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
  type CombinedRewardFn,
  type CombinedRewards,
  combineRewards,
  makeReward,
  rewardNames,
  type RewardOptions,
  type RewardSpec,
} from "./combine.ts";
