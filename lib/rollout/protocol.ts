/**
 * What every inference engine is asked and answers, engine-neutral: one request samples one
 * prompt's whole group (G completions, one seed), and the answer is G completions with their
 * token ids and the engine's log-prob of each sampled token.
 */
import type { FinishReason } from "../sampling/generate.ts";

export type EngineName = "vllm" | "sglang" | "llama.cpp";
export const ENGINE_NAMES: readonly EngineName[] = ["vllm", "sglang", "llama.cpp"];

export interface EngineSampling {
  readonly temperature: number;
  readonly topP: number;
  /** null: no top-k. */
  readonly topK: number | null;
  readonly minP: number;
  readonly maxTokens: number;
  readonly stopTokens: readonly number[];
  /**
   * Log-probs of the temperature-scaled distribution (TRL >= 0.16) instead of the raw logits'
   * (TRL 0.15.2 / Tina): the engine must report the same quantity the learner computes.
   */
  readonly logprobsAfterTemperature: boolean;
}

export interface GroupRequest {
  readonly prompt: readonly number[];
  readonly n: number;
  readonly seed: number;
  /** The engine's name for the adapter to sample with, or null for the base model. */
  readonly adapter: string | null;
  readonly sampling: EngineSampling;
}

export interface Completion {
  readonly tokens: readonly number[];
  readonly logprobs: readonly number[];
  readonly finishReason: FinishReason;
}

/** How one engine's HTTP API spells a group request and its answer (pure, no I/O). */
export interface Protocol {
  readonly engine: EngineName;
  readonly request: (group: GroupRequest) => { readonly path: string; readonly body: unknown };
  /** The group's completions; throws, naming the field, on a malformed or short answer. */
  readonly parse: (response: unknown, group: GroupRequest) => readonly Completion[];
}

/** A field of a JSON answer, or an error naming where it was expected. */
export const field = (value: unknown, path: string, key: string | number): unknown => {
  if (value === null || typeof value !== "object" || !(key in (value as object))) {
    throw new Error(
      `response: missing field ${path}${typeof key === "number" ? `[${key}]` : `.${key}`}`,
    );
  }
  return (value as Record<string | number, unknown>)[key];
};

export const arrayField = (value: unknown, path: string, key: string | number): unknown[] => {
  const v = field(value, path, key);
  if (!Array.isArray(v)) throw new Error(`response: field ${path}.${key} is not an array`);
  return v;
};

export const numberAt = (v: unknown, where: string): number => {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new Error(`response: ${where} is not a finite number (${JSON.stringify(v)})`);
  }
  return v;
};

export const tokenAt = (v: unknown, where: string): number => {
  const id = numberAt(v, where);
  if (!Number.isInteger(id) || id < 0) {
    throw new Error(`response: ${where} is not a token id (${id})`);
  }
  return id;
};

/** Checks a parsed group: exactly n completions, each with one log-prob per token. */
export const checkGroup = (
  completions: readonly Completion[],
  group: GroupRequest,
): readonly Completion[] => {
  if (completions.length !== group.n) {
    throw new Error(`response: ${completions.length} completions for n = ${group.n}`);
  }
  completions.forEach((c, i) => {
    if (c.tokens.length !== c.logprobs.length) {
      throw new Error(
        `response: completion ${i} has ${c.tokens.length} tokens but ${c.logprobs.length} log-probs`,
      );
    }
    if (c.tokens.length === 0) throw new Error(`response: completion ${i} is empty`);
    if (c.tokens.length > group.sampling.maxTokens) {
      throw new Error(
        `response: completion ${i} has ${c.tokens.length} tokens, max_tokens is ${group.sampling.maxTokens}`,
      );
    }
  });
  return completions;
};

/** A 31-bit seed from two key words (engines treat 2^32 - 1 as "random"). */
export const seedOf = (bits: number): number => bits & 0x7fffffff;
