/**
 * Hugging Face `config.json` of the decoder families in lib/families.ts (Qwen2, Qwen3,
 * Llama), decoded into an immutable camelCase `ModelConfig` that carries the family's switches
 * for lib/model/decoder.ts. Settings this library does not implement (other RoPE scalings,
 * sliding window, other activations) are refused by name rather than silently ignored.
 */
import * as t from "io-ts";
import { type Either, isLeft, left, right } from "fp-ts/lib/Either.js";
import { join } from "node:path";
import {
  type Architecture,
  ARCHITECTURES,
  type DecoderSwitches,
  FAMILIES,
  familySwitches,
  isArchitecture,
  type RopeScaling,
} from "../families.ts";
import {
  decodeWith,
  NonNegativeInt,
  orThrow,
  PositiveInt,
  PositiveNumber,
  quote,
  readJsonFile,
  refine,
} from "./json_codec.ts";

export { type Architecture, ARCHITECTURES, type RopeScaling };
/** The weight dtypes a config.json may name. */
export type TorchDtype = "float32" | "float16" | "bfloat16";

/**
 * A decoder's architecture from config.json, camelCased and checked: sizes, heads, RoPE, norms,
 * special ids and the family's switches.
 */
export type ModelConfig = DecoderSwitches & {
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
  /** Llama 3's frequency scaling, or null for plain RoPE. */
  readonly ropeScaling: RopeScaling | null;
  readonly tieWordEmbeddings: boolean;
  readonly maxPositionEmbeddings: number;
  /** The dtype the weights were saved in (they are widened to f32 on load). */
  readonly dtype: TorchDtype;
  readonly bosTokenId: number | null;
  /** Generation stops at any of these (HF allows one id or a list). */
  readonly eosTokenIds: readonly number[];
};

const DtypeCodec = t.keyof(
  { float32: null, float16: null, bfloat16: null },
  "one of float32, float16, bfloat16",
);
const TokenId = NonNegativeInt;

/** rope_scaling (older transformers) or rope_parameters (newer): the type is checked apart. */
const RopeFieldsCodec = t.partial({
  rope_type: t.string,
  type: t.string,
  rope_theta: PositiveNumber,
  factor: PositiveNumber,
  low_freq_factor: PositiveNumber,
  high_freq_factor: PositiveNumber,
  original_max_position_embeddings: PositiveInt,
}, "a JSON object");
type RopeFields = t.TypeOf<typeof RopeFieldsCodec>;

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
    rope_parameters: RopeFieldsCodec,
    rope_scaling: t.union([t.null, RopeFieldsCodec], "null or a JSON object"),
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
    mlp_bias: t.boolean,
    use_sliding_window: t.literal(false, "false (sliding-window attention is not supported)"),
  }),
]);
type HfConfig = t.TypeOf<typeof HfConfigCodec>;

const DEFAULT_ROPE_THETA = 10000; // transformers' default for every family here
const ROPE_TYPES = ["default", "llama3"];

/** The RoPE scaling of `fields` (read from config.json's field `at`), or a problem naming it. */
const ropeScalingOf = (fields: RopeFields, at: string): Either<string, RopeScaling | null> => {
  const typeField = fields.rope_type !== undefined ? "rope_type" : "type";
  const ropeType = fields.rope_type ?? fields.type ?? "default";
  if (ropeType === "default") return right(null);
  if (ropeType !== "llama3") {
    return left(
      `field "${at}.${typeField}": ${quote(ropeType)} is not supported (supported: ${
        ROPE_TYPES.join(", ")
      })`,
    );
  }
  const {
    factor,
    low_freq_factor: low,
    high_freq_factor: high,
    original_max_position_embeddings: context,
  } = fields;
  if (factor === undefined) return left(`field "${at}.factor": missing for llama3 RoPE`);
  if (low === undefined) return left(`field "${at}.low_freq_factor": missing for llama3 RoPE`);
  if (high === undefined) return left(`field "${at}.high_freq_factor": missing for llama3 RoPE`);
  if (context === undefined) {
    return left(`field "${at}.original_max_position_embeddings": missing for llama3 RoPE`);
  }
  if (!(high > low)) {
    return left(`field "${at}.high_freq_factor": ${high} must exceed low_freq_factor ${low}`);
  }
  return right(Object.freeze({
    type: "llama3" as const,
    factor,
    lowFreqFactor: low,
    highFreqFactor: high,
    originalMaxPositionEmbeddings: context,
  }));
};

const ropeOf = (raw: HfConfig): Either<string, { theta: number; scaling: RopeScaling | null }> => {
  const [fields, at] = raw.rope_parameters
    ? [raw.rope_parameters, "rope_parameters"]
    : [raw.rope_scaling ?? {}, "rope_scaling"];
  const scaling = ropeScalingOf(fields, at);
  if (isLeft(scaling)) return scaling;
  const theta = raw.rope_parameters?.rope_theta ?? raw.rope_theta ?? DEFAULT_ROPE_THETA;
  return right({ theta, scaling: scaling.right });
};

const headDimOf = (raw: HfConfig, architecture: Architecture): number =>
  raw.head_dim ??
    FAMILIES[architecture].defaultHeadDim(raw.hidden_size, raw.num_attention_heads);

/** Checks that span fields; the message names the field to change. */
const crossFieldProblem = (raw: HfConfig, architecture: Architecture): string | null => {
  const heads = raw.num_attention_heads;
  const kvHeads = raw.num_key_value_heads ?? heads;
  const headDim = headDimOf(raw, architecture);
  if (heads % kvHeads !== 0) {
    return `field "num_key_value_heads": ${kvHeads} does not divide num_attention_heads ${heads}`;
  }
  if (!Number.isInteger(headDim)) {
    return `field "num_attention_heads": ${heads} does not divide hidden_size ${raw.hidden_size} (and no head_dim is given)`;
  }
  if (headDim % 2 !== 0) {
    return `field "head_dim": RoPE needs an even head dimension, got ${headDim}`;
  }
  if (raw.mlp_bias === true && !FAMILIES[architecture].mlpBiasField) {
    return `field "mlp_bias": ${architecture} has no MLP biases`;
  }
  return null;
};

const toModelConfig = (
  raw: HfConfig,
  architecture: Architecture,
  rope: { theta: number; scaling: RopeScaling | null },
): ModelConfig => {
  const eos = raw.eos_token_id ?? [];
  return Object.freeze({
    architecture,
    vocabSize: raw.vocab_size,
    hiddenSize: raw.hidden_size,
    intermediateSize: raw.intermediate_size,
    numHiddenLayers: raw.num_hidden_layers,
    numAttentionHeads: raw.num_attention_heads,
    numKeyValueHeads: raw.num_key_value_heads ?? raw.num_attention_heads,
    headDim: headDimOf(raw, architecture),
    rmsNormEps: raw.rms_norm_eps,
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    tieWordEmbeddings: raw.tie_word_embeddings ?? false,
    ...familySwitches(architecture, {
      attentionBias: raw.attention_bias,
      mlpBias: raw.mlp_bias,
    }),
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
  if (problem !== null) return left(`${file}: ${problem}`);
  const rope = ropeOf(raw);
  if (isLeft(rope)) return left(`${file}: ${rope.left}`);
  return right(toModelConfig(raw, architecture, rope.right));
};

/** Reads `<dir>/config.json`, throwing an error that names the file and the field at fault. */
export const readModelConfig = async (dir: string): Promise<ModelConfig> => {
  const path = join(dir, "config.json");
  return orThrow(decodeModelConfig(await readJsonFile(path), path));
};

const encodeRopeScaling = (scaling: RopeScaling | null): Record<string, unknown> | null =>
  scaling && {
    rope_type: scaling.type,
    factor: scaling.factor,
    low_freq_factor: scaling.lowFreqFactor,
    high_freq_factor: scaling.highFreqFactor,
    original_max_position_embeddings: scaling.originalMaxPositionEmbeddings,
  };

/** The HF `config.json` object for a config (for saving models; decodes back to `config`). */
export const encodeModelConfig = (config: ModelConfig): Record<string, unknown> => {
  const family = FAMILIES[config.architecture];
  return {
    architectures: [config.architecture],
    model_type: family.modelType,
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
    rope_scaling: encodeRopeScaling(config.ropeScaling),
    tie_word_embeddings: config.tieWordEmbeddings,
    ...(family.attentionBias === "attention_bias" ? { attention_bias: config.outputBias } : {}),
    ...(family.mlpBiasField ? { mlp_bias: config.mlpBias } : {}),
    max_position_embeddings: config.maxPositionEmbeddings,
    use_sliding_window: false,
    torch_dtype: config.dtype,
    bos_token_id: config.bosTokenId,
    eos_token_id: config.eosTokenIds.length === 1
      ? config.eosTokenIds[0]
      : config.eosTokenIds.length === 0
      ? null
      : [...config.eosTokenIds],
  };
};
