/**
 * Rollouts: prompts and the current adapter in, completions out. Training talks only to this
 * interface, so in-process sampling can later be swapped for an inference server that loads
 * each new adapter (e.g. an OpenAI-compatible vLLM endpoint).
 */
import type { ModelConfig } from "../model/decoder.ts";
import type { Key } from "../random/prng.ts";
import { type FinishReason, generate } from "../sampling/generate.ts";
import type { Policy } from "./policy.ts";

export interface RolloutRequest {
  /** Token ids of each prompt; every prompt is sampled `numGenerations` times. */
  readonly prompts: readonly (readonly number[])[];
  readonly numGenerations: number;
  /** The current policy: base weights and adapter (an external server would load the adapter). */
  readonly policy: Policy;
  readonly key: Key;
}

export interface RolloutResult {
  /** prompts.length × numGenerations completions, grouped by prompt. */
  readonly tokens: readonly (readonly number[])[];
  readonly logprobs: readonly (readonly number[])[];
  readonly finishReasons: readonly FinishReason[];
  /**
   * The inference engine that sampled (e.g. "vllm", "llama.cpp"), absent for in-process
   * sampling: its log-probs come from other numerics, so the step corrects for the mismatch.
   */
  readonly engine?: string;
}

export type Rollout = (request: RolloutRequest) => Promise<RolloutResult>;

export interface SamplingSettings {
  readonly temperature: number;
  readonly topP: number;
  readonly topK: number | null;
  readonly maxNewTokens: number;
  readonly stopTokens: readonly number[];
  readonly padToken: number;
}

/** Sampling in this process with the KV-cache generator. */
export const inProcessRollout =
  (cfg: ModelConfig, sampling: SamplingSettings): Rollout =>
  ({ prompts, numGenerations, policy, key }) => {
    const expanded = prompts.flatMap((p) => Array.from({ length: numGenerations }, () => p));
    return generate(cfg, policy.params, expanded, { ...sampling, key, adapter: policy.adapter });
  };
