/**
 * Rollouts: prompts and the current adapter in, completions out. Training talks only to this
 * interface, so in-process sampling can later be swapped for an inference server that loads
 * each new adapter (e.g. an OpenAI-compatible vLLM endpoint).
 */
import type { ModelConfig } from "../model/decoder.ts";
import type { Key } from "../random/prng.ts";
import { type FinishReason, generateFromParams } from "../sampling/generate.ts";
import type { Policy } from "./policy.ts";

/** What a step asks of the rollout: prompts, group size, policy and key. */
export interface RolloutRequest {
  /** Token ids of each prompt; every prompt is sampled `numGenerations` times. */
  readonly prompts: readonly (readonly number[])[];
  /** Completions per prompt (the GRPO group). */
  readonly numGenerations: number;
  /** The current policy: base weights and adapter (an external server would load the adapter). */
  readonly policy: Policy;
  /** The sampling key: same key, same completions in process. */
  readonly key: Key;
}

/** The sampled completions with their log-probs and finish reasons. */
export interface RolloutResult {
  /** prompts.length × numGenerations completions, grouped by prompt. */
  readonly tokens: readonly (readonly number[])[];
  /** Each completion token's log-prob under the sampling distribution. */
  readonly logprobs: readonly (readonly number[])[];
  /** Whether each completion stopped at a stop token or the length limit. */
  readonly finishReasons: readonly FinishReason[];
  /**
   * The inference engine that sampled (e.g. "vllm", "llama.cpp"), absent for in-process
   * sampling: its log-probs come from other numerics, so the step corrects for the mismatch.
   */
  readonly engine?: string;
}

/** Where completions come from: in process (inProcessRollout) or an inference engine. */
export type Rollout = (request: RolloutRequest) => Promise<RolloutResult>;

/** The sampling settings of in-process rollouts. */
export interface SamplingSettings {
  /** Sampling temperature. */
  readonly temperature: number;
  /** Nucleus sampling mass. */
  readonly topP: number;
  /** Top-k, or null for none. */
  readonly topK: number | null;
  /** Completion length limit. */
  readonly maxNewTokens: number;
  /** Ids that end a completion. */
  readonly stopTokens: readonly number[];
  /** Fills ragged prompt rows. */
  readonly padToken: number;
}

/** Sampling in this process with the KV-cache generator. */
export const inProcessRollout =
  (cfg: ModelConfig, sampling: SamplingSettings): Rollout =>
  ({ prompts, numGenerations, policy, key }) => {
    const expanded = prompts.flatMap((p) => Array.from({ length: numGenerations }, () => p));
    return generateFromParams(cfg, policy.params, expanded, {
      ...sampling,
      key,
      adapter: policy.adapter,
    });
  };
