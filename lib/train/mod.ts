/** The GRPO trainer: the one-call train() and createTrainer(), config and presets, the step and loop, checkpoints, rollouts, SFT. */
export * from "./config.ts";
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
