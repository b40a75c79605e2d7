/**
 * Batched autoregressive generation with a KV cache: one prefill over the (left-padded)
 * prompts, then one single-token forward per new token. Randomness comes only from `key`,
 * so the same key gives the same completions.
 */
import { slice } from "../autodiff/ops.ts";
import { scope, type Tensor, toArray } from "../autodiff/tensor.ts";
import type { Adapter, ModelConfig, Qwen2Params } from "../model/qwen2.ts";
import { headBlocks, hiddenStates } from "../model/qwen2.ts";
import type { KVEntry } from "../nn/attention.ts";
import { blockLogits } from "../nn/vocab_blocks.ts";
import { categorical, foldIn, type Key } from "../random/prng.ts";
import {
  argmax,
  checkSamplingParams,
  logProbOf,
  processLogits,
  type SamplingParams,
} from "./processors.ts";

export type FinishReason = "stop" | "length";

export interface GenerateOptions extends SamplingParams {
  readonly maxNewTokens: number;
  readonly stopTokens: readonly number[];
  readonly padToken: number;
  readonly key: Key;
  readonly adapter?: Adapter | null;
}

export interface Generation {
  /** New tokens per sequence, up to and including the stop token. */
  readonly tokens: readonly (readonly number[])[];
  /** log-prob of each new token under the distribution it was drawn from. */
  readonly logprobs: readonly (readonly number[])[];
  readonly finishReasons: readonly FinishReason[];
}

const disposeCache = (cache: readonly KVEntry[]): void =>
  cache.forEach(({ k, v }) => {
    k.dispose();
    v.dispose();
  });

/**
 * The last position's logits [B, 1, V] of a forward, with the new cache: only that position
 * goes through the (blocked) LM head, so no [B, T, V] logits are made.
 */
const step = (
  cfg: ModelConfig,
  params: Qwen2Params,
  ids: number[][],
  keyMask: number[][],
  cache: readonly KVEntry[] | null,
  adapter: Adapter | null | undefined,
): { last: Tensor; cache: readonly KVEntry[] } =>
  scope(() => {
    const out = hiddenStates(cfg, params, ids, { keyMask, cache, adapter });
    const [b, t, h] = out.hidden.shape;
    const last = slice(out.hidden, [0, t - 1, 0], [b, 1, h]);
    return { last: blockLogits(last, headBlocks(params)), cache: out.cache };
  });

export const generate = async (
  cfg: ModelConfig,
  params: Qwen2Params,
  prompts: readonly (readonly number[])[],
  opts: GenerateOptions,
): Promise<Generation> => {
  checkSamplingParams(opts);
  if (prompts.length === 0) return { tokens: [], logprobs: [], finishReasons: [] };
  if (prompts.some((p) => p.length === 0)) {
    throw new Error("generate: every prompt needs at least one token");
  }
  if (!(Number.isInteger(opts.maxNewTokens) && opts.maxNewTokens >= 1)) {
    throw new Error(`generate: maxNewTokens must be a positive integer, got ${opts.maxNewTokens}`);
  }
  const width = Math.max(...prompts.map((p) => p.length));
  let ids = prompts.map((p) => [...new Array<number>(width - p.length).fill(opts.padToken), ...p]);
  const keyMask = prompts.map((
    p,
  ) => [...new Array<number>(width - p.length).fill(0), ...p.map(() => 1)]);
  const tokens = prompts.map((): number[] => []);
  const logprobs = prompts.map((): number[] => []);
  const done = prompts.map(() => false);
  const stops = new Set(opts.stopTokens);
  let cache: readonly KVEntry[] | null = null;
  try {
    for (let n = 0; n < opts.maxNewTokens && done.includes(false); n++) {
      const out = step(cfg, params, ids, keyMask, cache, opts.adapter);
      if (cache) disposeCache(cache);
      cache = out.cache;
      const logits = (await toArray(out.last)) as Float32Array;
      out.last.dispose();
      const vocab = logits.length / prompts.length;
      const rows = prompts.map((_, i) => logits.subarray(i * vocab, (i + 1) * vocab));
      const processed = rows.map((row, i) =>
        processLogits(row, opts, [...prompts[i], ...tokens[i]])
      );
      const picks = opts.temperature === 0
        ? processed.map(argmax)
        : Array.from(categorical(foldIn(opts.key, n), concatRows(processed, vocab), vocab));
      ids = picks.map((id, i) => [done[i] ? opts.padToken : id]);
      picks.forEach((id, i) => {
        keyMask[i].push(done[i] ? 0 : 1);
        if (done[i]) return;
        tokens[i].push(id);
        logprobs[i].push(logProbOf(processed[i], id));
        if (stops.has(id)) done[i] = true;
      });
    }
  } finally {
    if (cache) disposeCache(cache);
  }
  return { tokens, logprobs, finishReasons: done.map((d) => (d ? "stop" : "length")) };
};

const concatRows = (rows: readonly Float32Array[], width: number): Float32Array => {
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, i) => out.set(r, i * width));
  return out;
};
