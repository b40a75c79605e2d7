/** GRPO pieces as pure functions: advantages, completion masks, token log-probs, losses, presets. */
export {
  type AdvantageResult,
  combineRewards,
  computeAdvantages,
  type ScaleRewards,
} from "./advantages.ts";
export { type CompletionMask, completionMask, maskTruncated } from "./mask.ts";
export { type TokenLogProbs, tokenLogProbs, tokenLogProbsAndEntropy } from "./logprobs.ts";
export {
  checkLossConfig,
  type GrpoLoss,
  grpoLoss,
  type GrpoLossConfig,
  type GrpoLossInputs,
  type GrpoLossMetrics,
  type LossType,
  maskedBatchMean,
} from "./loss.ts";
export { type GrpoAlgorithmConfig, tinaPreset, trlPreset, withLoss } from "./presets.ts";
