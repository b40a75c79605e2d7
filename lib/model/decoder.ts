/**
 * The decoder of every family in lib/families.ts (Qwen2, Qwen3, Llama) as pure functions
 * of a params tree, readable top to bottom (nanoGPT-style): embed → [RMSNorm → GQA attention
 * with RoPE → residual → RMSNorm → gated MLP → residual] × L → RMSNorm → lm_head. The families
 * differ only in switches the config carries: which projections have biases, a per-head RMSNorm
 * of queries and keys (Qwen3), head_dim, and the RoPE frequencies (Llama 3's scaling).
 *
 * Base weights and LoRA adapters are separate trees: training differentiates the adapters
 * only, and the reference policy is the same forward with `adapter: null`.
 */
import { checkpoint } from "../autodiff/checkpoint.ts";
import { isTracing } from "../autodiff/tape.ts";
import { add, matmul, mul, reshape, transpose } from "../autodiff/ops.ts";
import { scope, type Tensor, tensor } from "../autodiff/tensor.ts";
import type { Backend } from "../tensor/backends.ts";
import {
  appendKv,
  attend,
  type AttentionMask,
  attentionMask,
  cachedLength,
  type KVEntry,
} from "../nn/attention.ts";
import type { LoraLayer, LoraPair } from "../io/peft.ts";
import { linear, type LinearParams, type LoraBranch } from "../nn/linear.ts";
import { gatedMlp, type MlpParams } from "../nn/mlp.ts";
import { rmsNorm } from "../nn/norm.ts";
import { mapRowChunks } from "../nn/row_chunks.ts";
import { blockLogits, embedLookup, splitRows } from "../nn/vocab_blocks.ts";
import { applyRope, ropeFrequencies, ropeTables } from "../nn/rope.ts";
import { foldIn, type Key, normal, uniform } from "../random/prng.ts";
import type { ModelConfig } from "../io/hf_config.ts";
import { type Proj, projFeatures, PROJS } from "../io/weight_layout.ts";

export type { ModelConfig, Proj };

/** One attention block's projections and (Qwen3) query/key norms. */
export interface AttentionParams {
  /** Queries. */
  readonly q: LinearParams;
  /** Keys. */
  readonly k: LinearParams;
  /** Values. */
  readonly v: LinearParams;
  /** The output projection. */
  readonly o: LinearParams;
  /** Per-head RMSNorm weights [headDim] of queries and keys (Qwen3); null when absent. */
  readonly qNorm: Tensor | null;
  /** See qNorm. */
  readonly kNorm: Tensor | null;
}

/** One decoder layer's weights. */
export interface LayerParams {
  /** RMSNorm weight before attention. */
  readonly inputNorm: Tensor;
  /** The attention block. */
  readonly attn: AttentionParams;
  /** RMSNorm weight before the MLP. */
  readonly postNorm: Tensor;
  /** The SwiGLU MLP. */
  readonly mlp: MlpParams;
}

/** A decoder's weights on a backend: embeddings, layers, final norm, LM head. */
export interface DecoderParams {
  /** [V, H] as row blocks under the backend's maxBindingBytes (lib/nn/vocab_blocks.ts). */
  readonly embed: readonly Tensor[];
  /** The decoder layers, bottom to top. */
  readonly layers: readonly LayerParams[];
  /** The final RMSNorm's weight. */
  readonly norm: Tensor;
  /** [V, H] as row blocks like embed; null when tied to embed. */
  readonly lmHead: readonly Tensor[] | null;
}

/** Adapter weights per layer and projection; absent projections have no adapter. */
export type LoraWeights = { readonly layers: readonly LoraLayer<Tensor>[] };

/**
 * LoRA as a forward applies it: device weights, their scaling and (in training) dropout. The
 * public entry points take a LoraAdapter (PEFT config + weights) and derive this.
 */
export interface AppliedLora {
  /** The A and B matrices. */
  readonly weights: LoraWeights;
  /** The factor B·A is multiplied by. */
  readonly scaling: number;
  /** Dropout on each branch input (training only): the rate and a key for this forward. */
  readonly dropout?: { readonly rate: number; readonly key: Key } | null;
}

/** What a forward pass runs with besides the ids: adapter, masks, positions, KV cache. */
export interface ForwardOptions {
  /** LoRA applied in every adapted projection, or none. */
  readonly adapter?: AppliedLora | null;
  /** 1 for real tokens, 0 for padding, over cached + new positions: [B][S]. Default all ones. */
  readonly keyMask?: readonly (readonly number[])[];
  /** Position ids of the new tokens [B][T]. Default: counted from the key mask. */
  readonly positions?: readonly (readonly number[])[];
  /** Per-layer keys and values of earlier positions. */
  readonly cache?: readonly KVEntry[] | null;
  /**
   * Keep only each layer's input for the backward pass and recompute the rest there
   * (lib/autodiff/checkpoint.ts): training only; no KV cache is returned.
   */
  readonly gradientCheckpointing?: boolean;
}

export interface ForwardResult {
  readonly logits: Tensor; // [B, T, V]
  readonly cache: readonly KVEntry[];
}

/** Positions of the last T of S keys: the count of real tokens before each, so left padding is skipped. */
export const positionsFromMask = (
  keyMask: readonly (readonly number[])[],
  queries: number,
): number[][] =>
  keyMask.map((row) => {
    const out: number[] = [];
    let seen = 0;
    row.forEach((m, j) => {
      if (j >= row.length - queries) out.push(m ? seen : 0);
      seen += m ? 1 : 0;
    });
    return out;
  });

/** The LoRA branch of one projection; `chunk` draws its dropout apart per row chunk. */
const branch = (
  adapter: AppliedLora | null | undefined,
  layer: number,
  proj: Proj,
  chunk: number | null = null,
): LoraBranch | null => {
  const pair = adapter?.weights.layers[layer]?.[proj];
  if (!adapter || !pair) return null;
  const drop = adapter.dropout;
  if (!drop || drop.rate <= 0) return { pair, scaling: adapter.scaling, dropout: null };
  const key = foldIn(drop.key, layer * PROJS.length + PROJS.indexOf(proj));
  return {
    pair,
    scaling: adapter.scaling,
    dropout: { rate: drop.rate, key: chunk === null ? key : foldIn(key, chunk) },
  };
};

const mergeHeads = (x: Tensor): Tensor => {
  const [b, h, t, d] = x.shape;
  return reshape(transpose(x, [0, 2, 1, 3]), [b, t, h * d]);
};

/** The LM head's weight [V, H] as row blocks: lm_head, or the embedding when tied. */
export const headBlocks = (params: DecoderParams): readonly Tensor[] =>
  params.lmHead ?? params.embed;

/** Logits [B, T, V] (and the KV cache) for token ids [B][T]. */
export const forward = (
  cfg: ModelConfig,
  params: DecoderParams,
  ids: readonly (readonly number[])[],
  opts: ForwardOptions = {},
): ForwardResult => {
  const { hidden, cache } = hiddenStates(cfg, params, ids, opts);
  return { logits: blockLogits(hidden, headBlocks(params)), cache };
};

/**
 * The final normed hidden states [B, T, H], the LM head's input (training computes token
 * log-probs from them in chunks, never materializing all logits).
 */
export const hiddenStates = (
  cfg: ModelConfig,
  params: DecoderParams,
  ids: readonly (readonly number[])[],
  opts: ForwardOptions = {},
): HiddenResult => {
  const t = ids[0]?.length ?? 0;
  if (ids.length === 0 || t === 0 || ids.some((row) => row.length !== t)) {
    throw new Error(`forward: ids must be a non-empty [B][T] array of equal-length rows`);
  }
  const bad = ids.flat().find((id) => !Number.isInteger(id) || id < 0 || id >= cfg.vocabSize);
  if (bad !== undefined) {
    throw new Error(`forward: token id ${bad} outside the vocabulary [0, ${cfg.vocabSize})`);
  }
  return hiddenStatesFromEmbeds(cfg, params, embedLookup(params.embed, ids), opts);
};

export interface HiddenResult {
  readonly hidden: Tensor;
  readonly cache: readonly KVEntry[];
}

/** What every layer of one forward shares: RoPE tables, the attention mask and the adapter. */
export interface LayerContext {
  readonly cos: Tensor;
  readonly sin: Tensor;
  readonly mask: AttentionMask;
  readonly adapter: AppliedLora | null | undefined;
}

/** The shared context for T new positions after the cache's; checks the key mask's shape. */
export const layerContext = (
  cfg: ModelConfig,
  backend: Backend,
  batch: number,
  t: number,
  opts: ForwardOptions,
): LayerContext => {
  const cached = opts.cache?.[0];
  const past = cached ? cachedLength(cached) : 0;
  const keyMask = opts.keyMask ??
    Array.from({ length: batch }, () => new Array<number>(past + t).fill(1));
  if (keyMask.length !== batch || keyMask.some((row) => row.length !== past + t)) {
    throw new Error(
      `forward: keyMask must be ${batch} rows covering ${past} cached + ${t} new positions`,
    );
  }
  const positions = opts.positions ?? positionsFromMask(keyMask, t);
  const frequencies = ropeFrequencies(cfg.headDim, cfg.ropeTheta, cfg.ropeScaling);
  const { cos, sin } = ropeTables(backend, positions, frequencies);
  // A preallocated cache's attention reads all its positions: the unfilled ones are masked.
  const capacity = cached?.length === undefined ? past + t : cached.k.shape[2];
  if (capacity < past + t) {
    throw new Error(
      `forward: ${past} cached + ${t} new positions exceed the KV cache's ${capacity}`,
    );
  }
  const keys = keyMask.map((row) => [...row, ...new Array<number>(capacity - row.length).fill(0)]);
  return { cos, sin, mask: attentionMask(backend, keys, t, past), adapter: opts.adapter };
};

/** Qwen3's per-head RMSNorm over head_dim, or the heads unchanged for families without it. */
const headNorm = (heads: Tensor, weight: Tensor | null, eps: number): Tensor =>
  weight ? rmsNorm(heads, weight, eps) : heads;

/** Self-attention of layer i on normed input h: its o_proj output and the extended KV cache. */
export const attention = (
  cfg: ModelConfig,
  attn: AttentionParams,
  i: number,
  h: Tensor,
  ctx: LayerContext,
  past: KVEntry | null,
): { readonly out: Tensor; readonly kv: KVEntry } => {
  const { headDim, numAttentionHeads: heads, numKeyValueHeads: kvHeads, rmsNormEps: eps } = cfg;
  const lora = (proj: Proj) => branch(ctx.adapter, i, proj);
  // [B, T, heads, D]: RoPE moves the heads of q and k to axis 1 as it turns them.
  const project = (proj: "q" | "k" | "v", count: number) => {
    const [b, t] = h.shape;
    return reshape(linear(h, attn[proj], lora(proj)), [b, t, count, headDim]);
  };
  const q = applyRope(headNorm(project("q", heads), attn.qNorm, eps), ctx.cos, ctx.sin);
  const k = applyRope(headNorm(project("k", kvHeads), attn.kNorm, eps), ctx.cos, ctx.sin);
  const v = transpose(project("v", kvHeads), [0, 2, 1, 3]);
  const kv = appendKv(past, k, v);
  const out = linear(mergeHeads(attend(q, kv.k, kv.v, ctx.mask)), attn.o, lora("o"));
  return { out, kv };
};

/**
 * The gated MLP of layer i on normed input m, in row chunks under the binding limit; its widest
 * tensor is the SwiGLU gradient, d gate and d up stacked (on the CPU backends).
 */
const mlp = (cfg: ModelConfig, params: MlpParams, i: number, m: Tensor, ctx: LayerContext) =>
  mapRowChunks(m, 2 * cfg.intermediateSize, (rows: Tensor, chunk: number | null) => {
    const lora = (proj: Proj) => branch(ctx.adapter, i, proj, chunk);
    return gatedMlp(rows, params, { gate: lora("gate"), up: lora("up"), down: lora("down") });
  });

/** One decoder layer on the residual stream x: its output, attention output and KV cache. */
export const decoderLayer = (
  cfg: ModelConfig,
  layer: LayerParams,
  i: number,
  x: Tensor,
  ctx: LayerContext,
  past: KVEntry | null,
): { readonly out: Tensor; readonly attnOut: Tensor; readonly kv: KVEntry } => {
  const attn = attention(
    cfg,
    layer.attn,
    i,
    rmsNorm(x, layer.inputNorm, cfg.rmsNormEps),
    ctx,
    past,
  );
  const mid = add(x, attn.out);
  const out = add(mid, mlp(cfg, layer.mlp, i, rmsNorm(mid, layer.postNorm, cfg.rmsNormEps), ctx));
  return { out, attnOut: attn.out, kv: attn.kv };
};

/**
 * hiddenStates from input embeddings x [B, T, H] (Hugging Face's inputs_embeds): for tokens
 * that never left the device, as in on-device sampling.
 */
export const hiddenStatesFromEmbeds = (
  cfg: ModelConfig,
  params: DecoderParams,
  embeds: Tensor,
  opts: ForwardOptions = {},
): HiddenResult => {
  const [b, t] = embeds.shape;
  const ctx = layerContext(cfg, params.norm.backend, b, t, opts);
  let x = embeds;
  const cache: KVEntry[] = [];
  params.layers.forEach((layer, i) => {
    if (opts.gradientCheckpointing) {
      x = checkpointedLayer(cfg, layer, i, x, ctx);
      return;
    }
    const run = () => decoderLayer(cfg, layer, i, x, ctx, opts.cache?.[i] ?? null);
    // Without a trace no later op reads a layer's intermediates: free them layer by layer, so an
    // inference forward (sampling's prefill, reference log-probs) holds one layer's at a time.
    const step = isTracing() ? run() : scope(run);
    cache.push(step.kv);
    x = step.out;
  });
  return { hidden: rmsNorm(x, params.norm, cfg.rmsNormEps), cache };
};

/**
 * decoderLayer's output with only x kept for the backward pass. The layer's LoRA weights are
 * the checkpoint's inputs beside x, so their gradients flow through the recomputation.
 */
const checkpointedLayer = (
  cfg: ModelConfig,
  layer: LayerParams,
  i: number,
  x: Tensor,
  ctx: LayerContext,
): Tensor => {
  const adapter = ctx.adapter;
  const pairs = Object.entries(adapter?.weights.layers[i] ?? {}) as [Proj, LoraPair<Tensor>][];
  const leaves = pairs.flatMap(([, pair]) => [pair.A, pair.B]);
  return checkpoint(([input, ...weights]) => {
    const rebuilt = Object.fromEntries(
      pairs.map(([proj], j) => [proj, { A: weights[2 * j], B: weights[2 * j + 1] }]),
    );
    const layers = adapter ? adapter.weights.layers.map((l, k) => (k === i ? rebuilt : l)) : [];
    const local = adapter ? { ...adapter, weights: { layers } } : adapter;
    return decoderLayer(cfg, layer, i, input, { ...ctx, adapter: local }, null).out;
  })([x, ...leaves]);
};

// ---------------------------------------------------------------------------------------------
// Fresh weights (for pretraining from scratch and benchmarks) and fresh adapters

const randomTensor = (backend: Backend, key: Key, shape: number[], std: number): Tensor =>
  tensor(backend, randomData(key, shape, std), shape);
const randomData = (key: Key, shape: number[], std: number): Float32Array =>
  normal(key, shape.reduce((a, c) => a * c, 1), 0, std);
const constant = (backend: Backend, shape: number[], value: number): Tensor =>
  tensor(backend, new Float32Array(shape.reduce((a, c) => a * c, 1)).fill(value), shape);

/** Weights ~ N(0, std²) (HF's initializer_range), norms 1, biases 0: a model to pretrain. */
export const initParams = (
  backend: Backend,
  cfg: ModelConfig,
  key: Key,
  std = 0.02,
): DecoderParams => {
  const {
    hiddenSize: hd,
    intermediateSize: inter,
    headDim,
    numAttentionHeads: h,
    numKeyValueHeads: kv,
  } = cfg;
  let n = 0;
  const w = (shape: number[], scale = std) => randomTensor(backend, foldIn(key, n++), shape, scale);
  const vocabRows = () => {
    const shape = [cfg.vocabSize, hd];
    return splitRows(backend, randomData(foldIn(key, n++), shape, std), shape);
  };
  const bias = (on: boolean, size: number) => (on ? constant(backend, [size], 0) : null);
  const qkv = (size: number) => bias(cfg.attentionBias, size);
  const mlpBias = (size: number) => bias(cfg.mlpBias, size);
  const headNormWeight = () => (cfg.qkNorm ? constant(backend, [headDim], 1) : null);
  const residualStd = std / Math.sqrt(2 * cfg.numHiddenLayers); // GPT-2's scaled init for residual outputs
  return {
    embed: vocabRows(),
    layers: Array.from({ length: cfg.numHiddenLayers }, () => ({
      inputNorm: constant(backend, [hd], 1),
      attn: {
        q: { weight: w([h * headDim, hd]), bias: qkv(h * headDim) },
        k: { weight: w([kv * headDim, hd]), bias: qkv(kv * headDim) },
        v: { weight: w([kv * headDim, hd]), bias: qkv(kv * headDim) },
        o: { weight: w([hd, h * headDim], residualStd), bias: bias(cfg.outputBias, hd) },
        qNorm: headNormWeight(),
        kNorm: headNormWeight(),
      },
      postNorm: constant(backend, [hd], 1),
      mlp: {
        gate: { weight: w([inter, hd]), bias: mlpBias(inter) },
        up: { weight: w([inter, hd]), bias: mlpBias(inter) },
        down: { weight: w([hd, inter], residualStd), bias: mlpBias(hd) },
      },
    })),
    norm: constant(backend, [hd], 1),
    lmHead: cfg.tieWordEmbeddings ? null : vocabRows(),
  };
};

/** PEFT's default init: A ~ U(−1/√in, 1/√in) (Kaiming-uniform with a = √5), B = 0. */
export const initLora = (
  backend: Backend,
  cfg: ModelConfig,
  key: Key,
  rank: number,
  targets: readonly Proj[] = PROJS,
): LoraWeights => ({
  layers: Array.from(
    { length: cfg.numHiddenLayers },
    (_, layer) =>
      Object.fromEntries(targets.map((proj, j) => {
        const { in: inp, out } = projFeatures(cfg, proj);
        const bound = 1 / Math.sqrt(inp);
        const a = uniform(foldIn(key, layer * PROJS.length + j), rank * inp, -bound, bound);
        return [proj, { A: tensor(backend, a, [rank, inp]), B: constant(backend, [out, rank], 0) }];
      })),
  ),
});

/** Merged weights W + scaling · B A (mergeAdapter is the model-level form). */
export const mergeLora = (params: DecoderParams, adapter: AppliedLora): DecoderParams => {
  const merge = (p: LinearParams, pair: LoraPair<Tensor> | undefined): LinearParams =>
    pair ? { ...p, weight: add(p.weight, mul(matmul(pair.B, pair.A), adapter.scaling)) } : p;
  return {
    ...params,
    layers: params.layers.map((layer, i) => {
      const pairs = adapter.weights.layers[i] ?? {};
      return {
        ...layer,
        attn: {
          ...layer.attn,
          q: merge(layer.attn.q, pairs.q),
          k: merge(layer.attn.k, pairs.k),
          v: merge(layer.attn.v, pairs.v),
          o: merge(layer.attn.o, pairs.o),
        },
        mlp: {
          gate: merge(layer.mlp.gate, pairs.gate),
          up: merge(layer.mlp.up, pairs.up),
          down: merge(layer.mlp.down, pairs.down),
        },
      };
    }),
  };
};
