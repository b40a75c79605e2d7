/**
 * The GRPO trainer: the one-call train() and createTrainer(), config and presets, the step and
 * loop, checkpoints, rollouts, SFT.
 * @module
 */
// The config's io-ts codec stays internal (lib/train/config.ts): TrainConfig documents the shape.
export {
  closestName,
  type ConfigLayer,
  type ConfigReward,
  didYouMean,
  type LoraSettings,
  PRESETS,
  resolveConfig,
  resolveLayers,
  TINA_PRESET,
  type TrainConfig,
  TRL_PRESET,
} from "./config.ts";
export * from "./step.ts";
export * from "./metrics.ts";
export * from "./loop.ts";
export * from "./checkpoint.ts";
export * from "./rollout.ts";
export * from "./setup.ts";
export * from "./policy.ts";
export * from "./ledger.ts";
export * from "./sequences.ts";
export * from "./stream.ts";
export * from "./completion_logprobs.ts";
export * from "./sft.ts";
export * from "./trainer.ts";
