/**
 * Hugging Face `config.json` for Qwen2-family causal LMs (Qwen2ForCausalLM, and
 * LlamaForCausalLM, which differs only in having no q/k/v biases), decoded into an immutable
 * camelCase `ModelConfig`. Settings this library does not implement (RoPE scaling, sliding
 * window, other activations) are refused rather than silently ignored.
 */
import * as t from "io-ts";
import { type Either, isLeft, left, right } from "fp-ts/lib/Either.js";
import { join } from "node:path";
import {
  decodeWith,
  named,
  NonNegativeInt,
  orThrow,
  PositiveInt,
  PositiveNumber,
  readJsonFile,
  refine,
} from "./json_codec.ts";

export const ARCHITECTURES = ["Qwen2ForCausalLM", "LlamaForCausalLM"] as const;
export type Architecture = typeof ARCHITECTURES[number];
export type TorchDtype = "float32" | "float16" | "bfloat16";

export type ModelConfig = {
  readonly architecture: Architecture;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  readonly tieWordEmbeddings: boolean;
  /** Whether q/k/v projections have biases: true for Qwen2, false for Llama. */
  readonly attentionBias: boolean;
  readonly maxPositionEmbeddings: number;
  /** The dtype the weights were saved in (they are widened to f32 on load). */
  readonly dtype: TorchDtype;
  readonly bosTokenId: number | null;
  /** Generation stops at any of these (HF allows one id or a list). */
  readonly eosTokenIds: readonly number[];
};

const isArchitecture = (name: string): name is Architecture =>
  (ARCHITECTURES as readonly string[]).includes(name);

const DtypeCodec = t.keyof(
  { float32: null, float16: null, bfloat16: null },
  "one of float32, float16, bfloat16",
);
const TokenId = NonNegativeInt;

const HfConfigCodec = t.intersection([
  t.type({
    architectures: refine(
      t.array(t.string),
      (names) => names.some(isArchitecture),
      `a list containing ${ARCHITECTURES.join(" or ")}`,
    ),
    vocab_size: PositiveInt,
    hidden_size: PositiveInt,
    intermediate_size: PositiveInt,
    num_hidden_layers: PositiveInt,
    num_attention_heads: PositiveInt,
    rms_norm_eps: PositiveNumber,
    max_position_embeddings: PositiveInt,
  }, "a JSON object"),
  t.partial({
    num_key_value_heads: PositiveInt,
    head_dim: PositiveInt,
    rope_theta: PositiveNumber,
    // Newer transformers nest RoPE settings; only plain (unscaled) RoPE is implemented.
    rope_parameters: t.intersection([
      t.type({ rope_theta: PositiveNumber }),
      t.partial({ rope_type: t.literal("default", '"default" (RoPE scaling is not supported)') }),
    ]),
    rope_scaling: named(t.null, "null (RoPE scaling is not supported)"),
    tie_word_embeddings: t.boolean,
    torch_dtype: DtypeCodec,
    dtype: DtypeCodec,
    bos_token_id: t.union([TokenId, t.null], "a token id or null"),
    eos_token_id: t.union(
      [TokenId, t.array(TokenId), t.null],
      "a token id, a list of token ids, or null",
    ),
    hidden_act: t.literal("silu", '"silu" (the only activation implemented)'),
    attention_bias: t.boolean,
    mlp_bias: t.literal(false, "false (MLP biases are not supported)"),
    use_sliding_window: t.literal(false, "false (sliding-window attention is not supported)"),
  }),
]);
type HfConfig = t.TypeOf<typeof HfConfigCodec>;

const DEFAULT_ROPE_THETA = 10000; // transformers' default for both architectures

/** Checks that span fields; the message names the field to change. */
const crossFieldProblem = (raw: HfConfig, architecture: Architecture): string | null => {
  const heads = raw.num_attention_heads;
  const kvHeads = raw.num_key_value_heads ?? heads;
  const headDim = raw.head_dim ?? raw.hidden_size / heads;
  if (heads % kvHeads !== 0) {
    return `field "num_key_value_heads": ${kvHeads} does not divide num_attention_heads ${heads}`;
  }
  if (!Number.isInteger(headDim)) {
    return `field "num_attention_heads": ${heads} does not divide hidden_size ${raw.hidden_size} (and no head_dim is given)`;
  }
  if (headDim % 2 !== 0) {
    return `field "head_dim": RoPE needs an even head dimension, got ${headDim}`;
  }
  if (architecture === "LlamaForCausalLM" && raw.attention_bias === true) {
    return `field "attention_bias": Llama attention biases are not supported`;
  }
  return null;
};

const toModelConfig = (raw: HfConfig, architecture: Architecture): ModelConfig => {
  const eos = raw.eos_token_id ?? [];
  return Object.freeze({
    architecture,
    vocabSize: raw.vocab_size,
    hiddenSize: raw.hidden_size,
    intermediateSize: raw.intermediate_size,
    numHiddenLayers: raw.num_hidden_layers,
    numAttentionHeads: raw.num_attention_heads,
    numKeyValueHeads: raw.num_key_value_heads ?? raw.num_attention_heads,
    headDim: raw.head_dim ?? raw.hidden_size / raw.num_attention_heads,
    rmsNormEps: raw.rms_norm_eps,
    ropeTheta: raw.rope_parameters?.rope_theta ?? raw.rope_theta ?? DEFAULT_ROPE_THETA,
    tieWordEmbeddings: raw.tie_word_embeddings ?? false,
    attentionBias: architecture === "Qwen2ForCausalLM",
    maxPositionEmbeddings: raw.max_position_embeddings,
    dtype: raw.dtype ?? raw.torch_dtype ?? "float32",
    bosTokenId: raw.bos_token_id ?? null,
    eosTokenIds: Object.freeze(typeof eos === "number" ? [eos] : [...eos]),
  });
};

/** Decodes parsed `config.json` contents; `file` names the source in error messages. */
export const decodeModelConfig = (json: unknown, file: string): Either<string, ModelConfig> => {
  const decoded = decodeWith(HfConfigCodec, json, file);
  if (isLeft(decoded)) return decoded;
  const raw = decoded.right;
  // The first supported entry wins; the codec guarantees there is one.
  const architecture = raw.architectures.find(isArchitecture)!;
  const problem = crossFieldProblem(raw, architecture);
  return problem === null ? right(toModelConfig(raw, architecture)) : left(`${file}: ${problem}`);
};

/** Reads `<dir>/config.json`, throwing an error that names the file and the field at fault. */
export const readModelConfig = async (dir: string): Promise<ModelConfig> => {
  const path = join(dir, "config.json");
  return orThrow(decodeModelConfig(await readJsonFile(path), path));
};

/** The HF `config.json` object for a config (for saving models; decodes back to `config`). */
export const encodeModelConfig = (config: ModelConfig): Record<string, unknown> => ({
  architectures: [config.architecture],
  model_type: config.architecture === "Qwen2ForCausalLM" ? "qwen2" : "llama",
  hidden_act: "silu",
  vocab_size: config.vocabSize,
  hidden_size: config.hiddenSize,
  intermediate_size: config.intermediateSize,
  num_hidden_layers: config.numHiddenLayers,
  num_attention_heads: config.numAttentionHeads,
  num_key_value_heads: config.numKeyValueHeads,
  head_dim: config.headDim,
  rms_norm_eps: config.rmsNormEps,
  rope_theta: config.ropeTheta,
  rope_scaling: null,
  tie_word_embeddings: config.tieWordEmbeddings,
  ...(config.architecture === "LlamaForCausalLM" ? { attention_bias: false, mlp_bias: false } : {}),
  max_position_embeddings: config.maxPositionEmbeddings,
  use_sliding_window: false,
  torch_dtype: config.dtype,
  bos_token_id: config.bosTokenId,
  eos_token_id: config.eosTokenIds.length === 1
    ? config.eosTokenIds[0]
    : config.eosTokenIds.length === 0
    ? null
    : [...config.eosTokenIds],
});
