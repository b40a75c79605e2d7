/**
 * Batched autoregressive generation with a KV cache: one prefill over the (left-padded)
 * prompts, then one single-token forward per new token. Randomness comes only from `key`,
 * so the same key gives the same completions.
 *
 * Two loops share that: on the host, each step reads the logits back and runs the logits
 * processors there; on the device (WebGPU by default, when only temperature applies), tokens
 * are drawn and fed back without leaving it, and the host reads them every `SYNC_EVERY` steps
 * to see whether every sequence has stopped.
 */
import { appliedLora, type LoraAdapter, type Model } from "../model/load.ts";
import { checkLoraAdapter, checkModel } from "../model/guards.ts";
import { concat, reshape, slice } from "../autodiff/ops.ts";
import { scope, Tensor, toArray } from "../autodiff/tensor.ts";
import type { AppliedLora, DecoderParams, ModelConfig } from "../model/decoder.ts";
import { headBlocks, hiddenStates, hiddenStatesFromEmbeds } from "../model/decoder.ts";
import { type KVEntry, preallocateKv } from "../nn/attention.ts";
import { blockLogits, embedDeviceIds } from "../nn/vocab_blocks.ts";
import { categorical, foldIn, type Key, uniform } from "../random/prng.ts";
import { sampleOnDevice, samplesOnDevice } from "./device_sample.ts";
import {
  argmax,
  checkSamplingParams,
  logProbOf,
  processLogits,
  type SamplingParams,
} from "./processors.ts";

/** Why a sequence ended: it drew a stop token, or reached maxNewTokens. */
export type FinishReason = "stop" | "length";

/**
 * How to sample: the processors' settings (temperature, top-k/p, min-p, repetition penalty) plus
 * these.
 */
export interface GenerateOptions extends SamplingParams {
  /** New tokens per sequence at most. */
  readonly maxNewTokens: number;
  /** Ids that end a sequence (EOS and the chat template's end-of-turn); the stop token is kept. */
  readonly stopTokens: readonly number[];
  /** Fills the left of shorter prompts (masked out of attention). */
  readonly padToken: number;
  /** The PRNG key every draw derives from: same key, same completions. */
  readonly key: Key;
  /** LoRA weights applied in every forward, or none. */
  readonly adapter?: AppliedLora | null;
  /**
   * Draw tokens on the tensor backend instead of the host. Default: on backends that read back
   * asynchronously (WebGPU) whenever the settings allow it (temperature only); `true` with
   * top-k/top-p/min-p/repetition penalty set is an error.
   */
  readonly onDevice?: boolean;
  /**
   * Keep keys and values in buffers sized for the prompt plus maxNewTokens, written in place,
   * instead of concatenating per token (where the backend can write in place: pure TS).
   * Default true; the tokens are the same either way.
   */
  readonly preallocateCache?: boolean;
}

/** What generate returns: the new tokens, their log-probs and why each sequence ended. */
export interface Generation {
  /** New tokens per sequence, up to and including the stop token. */
  readonly tokens: readonly (readonly number[])[];
  /** log-prob of each new token under the distribution it was drawn from. */
  readonly logprobs: readonly (readonly number[])[];
  /** One per sequence, in prompt order. */
  readonly finishReasons: readonly FinishReason[];
}

/** Device steps between reads of the drawn tokens (to stop once every sequence has). */
export const SYNC_EVERY = 16;

const disposeCache = (cache: readonly KVEntry[] | null): void =>
  cache?.forEach(({ k, v }) => {
    k.dispose();
    v.dispose();
  });

/** The cache a generation starts from: empty buffers where preallocated, else none. */
const initialCache = (
  cfg: ModelConfig,
  params: DecoderParams,
  promptWidth: number,
  opts: GenerateOptions,
  batch: number,
): readonly KVEntry[] | null =>
  opts.preallocateCache === false ? null : preallocateKv(params.norm.backend, cfg.numHiddenLayers, {
    batch,
    kvHeads: cfg.numKeyValueHeads,
    capacity: promptWidth + opts.maxNewTokens,
    headDim: cfg.headDim,
  });

/** The cache after a step: a concatenated one replaces (and frees) the last; buffers persist. */
const nextCache = (
  previous: readonly KVEntry[] | null,
  next: readonly KVEntry[],
): readonly KVEntry[] => {
  if (previous?.[0]?.k !== next[0]?.k) disposeCache(previous);
  return next;
};

/** The new tokens: host ids [B][T], or device ids int32 [B, T] (on-device sampling). */
type StepInput = readonly (readonly number[])[] | Tensor;

/**
 * The last position's logits [B, V] of a forward, with the new cache: only that position goes
 * through the (blocked) LM head, so no [B, T, V] logits are made.
 */
const lastLogits = (
  cfg: ModelConfig,
  params: DecoderParams,
  input: StepInput,
  keyMask: readonly (readonly number[])[],
  cache: readonly KVEntry[] | null,
  adapter: AppliedLora | null | undefined,
): { last: Tensor; cache: readonly KVEntry[] } => {
  const opts = { keyMask, cache, adapter };
  const out = input instanceof Tensor
    ? hiddenStatesFromEmbeds(cfg, params, embedDeviceIds(params.embed, input), opts)
    : hiddenStates(cfg, params, input, opts);
  const [b, t, h] = out.hidden.shape;
  const last = reshape(slice(out.hidden, [0, t - 1, 0], [b, 1, h]), [b, h]);
  return { last: blockLogits(last, headBlocks(params)), cache: out.cache };
};

const checkOptions = (prompts: readonly (readonly number[])[], opts: GenerateOptions): void => {
  checkSamplingParams(opts);
  if (prompts.some((p) => p.length === 0)) {
    throw new Error("generate: every prompt needs at least one token");
  }
  if (!(Number.isInteger(opts.maxNewTokens) && opts.maxNewTokens >= 1)) {
    throw new Error(`generate: maxNewTokens must be a positive integer, got ${opts.maxNewTokens}`);
  }
  if (opts.onDevice && !samplesOnDevice(opts)) {
    throw new Error(
      "generate: onDevice sampling applies temperature only; unset topK, topP, minP and " +
        "repetitionPenalty, or sample on the host",
    );
  }
};

/**
 * Samples a completion for every prompt (ids, batched, left-padded) with a KV cache; completions
 * stop at a stop token or maxNewTokens.
 */
export const generateFromParams = async (
  cfg: ModelConfig,
  params: DecoderParams,
  prompts: readonly (readonly number[])[],
  opts: GenerateOptions,
): Promise<Generation> => {
  checkOptions(prompts, opts);
  if (prompts.length === 0) return { tokens: [], logprobs: [], finishReasons: [] };
  const asyncReads = !params.norm.backend.capabilities.syncReads;
  const onDevice = opts.onDevice ?? (asyncReads && samplesOnDevice(opts));
  return await (onDevice ? generateOnDevice : generateOnHost)(cfg, params, prompts, opts);
};

/** Left-padded prompt ids and their key mask (0 on padding). */
const leftPad = (prompts: readonly (readonly number[])[], padToken: number) => {
  const width = Math.max(...prompts.map((p) => p.length));
  return {
    ids: prompts.map((p) => [...new Array<number>(width - p.length).fill(padToken), ...p]),
    keyMask: prompts.map((
      p,
    ) => [...new Array<number>(width - p.length).fill(0), ...p.map(() => 1)]),
  };
};

const generateOnHost = async (
  cfg: ModelConfig,
  params: DecoderParams,
  prompts: readonly (readonly number[])[],
  opts: GenerateOptions,
): Promise<Generation> => {
  const padded = leftPad(prompts, opts.padToken);
  let ids = padded.ids;
  const keyMask = padded.keyMask;
  const tokens = prompts.map((): number[] => []);
  const logprobs = prompts.map((): number[] => []);
  const done = prompts.map(() => false);
  const stops = new Set(opts.stopTokens);
  let cache = initialCache(cfg, params, ids[0].length, opts, prompts.length);
  try {
    for (let n = 0; n < opts.maxNewTokens && done.includes(false); n++) {
      const out = scope(() => lastLogits(cfg, params, ids, keyMask, cache, opts.adapter));
      cache = nextCache(cache, out.cache);
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
    disposeCache(cache);
  }
  return { tokens, logprobs, finishReasons: done.map((d) => (d ? "stop" : "length")) };
};

/**
 * The device loop: every sequence keeps drawing until the host sees, at a read, that all have
 * stopped; each is then cut after its first stop token. Tokens drawn after a sequence's stop
 * attend only to that sequence, so the kept tokens equal the host loop's for the same key
 * (up to float rounding at a draw's boundary).
 */
const generateOnDevice = async (
  cfg: ModelConfig,
  params: DecoderParams,
  prompts: readonly (readonly number[])[],
  opts: GenerateOptions,
): Promise<Generation> => {
  const b = prompts.length;
  const { ids, keyMask } = leftPad(prompts, opts.padToken);
  const stops = new Set(opts.stopTokens);
  const drawn: number[][] = prompts.map(() => []);
  const drawnLogprobs: number[][] = prompts.map(() => []);
  const pending: { ids: Tensor; logprobs: Tensor }[] = [];
  let input: StepInput = ids;
  let cache = initialCache(cfg, params, ids[0].length, opts, b);
  const stopped = () => drawn.every((row) => row.some((id) => stops.has(id)));
  const release = (draws: readonly { ids: Tensor; logprobs: Tensor }[]) =>
    draws.forEach((d) => {
      d.ids.dispose();
      d.logprobs.dispose();
    });
  /** One read for all draws since the last: [steps, B] ids and log-probs. */
  const readPending = async () => {
    const stacked = scope(() =>
      [pending.map((p) => p.ids), pending.map((p) => p.logprobs)].map((ts) =>
        concat(ts.map((t) => reshape(t, [1, b])), 0)
      )
    );
    const [picked, logps] = await Promise.all(stacked.map(toArray));
    stacked.forEach((t) => t.dispose());
    pending.forEach((_, s) => {
      drawn.forEach((row, i) => row.push(picked[s * b + i]));
      drawnLogprobs.forEach((row, i) => row.push(logps[s * b + i]));
    });
    release(pending.splice(0));
  };
  try {
    for (let n = 0; n < opts.maxNewTokens; n++) {
      const current: StepInput = input;
      const out = scope(() => {
        const step = lastLogits(cfg, params, current, keyMask, cache, opts.adapter);
        const draw = sampleOnDevice(step.last, opts.temperature, uniform(foldIn(opts.key, n), b));
        return { ...draw, next: reshape(draw.ids, [b, 1]), cache: step.cache };
      });
      if (input instanceof Tensor) input.dispose();
      cache = nextCache(cache, out.cache);
      input = out.next;
      pending.push({ ids: out.ids, logprobs: out.logprobs });
      keyMask.forEach((row) => row.push(1));
      if ((n + 1) % SYNC_EVERY === 0 || n + 1 === opts.maxNewTokens) {
        await readPending();
        if (stopped()) break;
      }
    }
  } finally {
    disposeCache(cache);
    if (input instanceof Tensor) input.dispose();
    release(pending);
  }
  const ends = drawn.map((row) => row.findIndex((id) => stops.has(id)));
  return {
    tokens: drawn.map((row, i) => (ends[i] < 0 ? row : row.slice(0, ends[i] + 1))),
    logprobs: drawnLogprobs.map((row, i) => (ends[i] < 0 ? row : row.slice(0, ends[i] + 1))),
    finishReasons: ends.map((e) => (e < 0 ? "length" : "stop")),
  };
};

const concatRows = (rows: readonly Float32Array[], width: number): Float32Array => {
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, i) => out.set(r, i * width));
  return out;
};

/** Sampling options of {@link generate}: the adapter is a LoraAdapter (loadAdapter's result). */
export type ModelGenerateOptions = Omit<GenerateOptions, "adapter"> & {
  /** LoRA applied while sampling, or none (the base model). */
  readonly adapter?: LoraAdapter | null;
};

/**
 * Samples a completion for every prompt (token ids; shorter ones are left-padded) from the model,
 * with or without an adapter; completions stop at a stop token or maxNewTokens.
 */
export const generate = (
  model: Pick<Model, "config" | "params">,
  prompts: readonly (readonly number[])[],
  opts: ModelGenerateOptions,
): Promise<Generation> => {
  checkModel("generate", model);
  checkLoraAdapter("generate", opts?.adapter, model);
  return generateFromParams(model.config, model.params, prompts, {
    ...opts,
    adapter: appliedLora(opts.adapter),
  });
};
