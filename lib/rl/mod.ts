/** GRPO pieces as pure functions: advantages, completion masks, token log-probs (from logits, or fused from hidden states and the head) and the loss family (presets: lib/train/config.ts). */
export {
  type AdvantageResult,
  computeAdvantages,
  SCALE_REWARDS,
  type ScaleRewards,
} from "./advantages.ts";
export { type CompletionMask, completionMask, maskTruncated } from "./mask.ts";
export { type TokenLogProbs, tokenLogProbsAndEntropy } from "./token_logprobs.ts";
export {
  checkLossConfig,
  type GrpoLoss,
  grpoLoss,
  type GrpoLossConfig,
  type GrpoLossInputs,
  type GrpoLossMetrics,
  LOSS_BOUNDS,
  LOSS_TYPES,
  type LossType,
  maskedBatchMean,
} from "./loss.ts";
export { headChunkRows, headTokenLogProbs } from "./head_logprobs.ts";
