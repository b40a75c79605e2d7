/**
 * The decoder families, each a small description of how it differs from the others: which
 * projections carry biases, whether queries and keys pass a per-head RMSNorm, and the
 * head_dim a config.json without one implies. RoPE frequencies come from config.json
 * (rope_theta, rope_scaling) for every family. Adding a family (Gemma, Phi, …) is adding an
 * entry here, plus whatever new switch lib/model/decoder.ts needs for it. It sits below every
 * layer because the config decoder (lib/io), RoPE (lib/nn) and the decoder (lib/model) all read it.
 */

/** Llama 3's frequency scaling (config.json `rope_scaling` with `rope_type: "llama3"`). */
export interface RopeScaling {
  /** The only scaling implemented (others are refused by name). */
  readonly type: "llama3";
  /** How much longer the context gets: low frequencies are divided by it. */
  readonly factor: number;
  /** Wavelengths above originalMax / lowFreqFactor are scaled fully. */
  readonly lowFreqFactor: number;
  /** Wavelengths below originalMax / highFreqFactor are kept. */
  readonly highFreqFactor: number;
  /** The context length the model was pretrained with. */
  readonly originalMaxPositionEmbeddings: number;
}

export interface Family {
  /** config.json's `model_type`. */
  readonly modelType: string;
  /**
   * "qkv": q/k/v always have biases and o_proj never (Qwen2); "attention_bias": q/k/v and o_proj
   * have biases exactly when config.json's attention_bias says so (Llama, Qwen3; default false).
   */
  readonly attentionBias: "qkv" | "attention_bias";
  /** Whether config.json's mlp_bias may switch on gate/up/down biases (Llama). */
  readonly mlpBiasField: boolean;
  /** Per-head RMSNorm of queries and keys after the projection, before RoPE (Qwen3). */
  readonly qkNorm: boolean;
  /** head_dim when config.json gives none (transformers' default for the family). */
  readonly defaultHeadDim: (hiddenSize: number, heads: number) => number;
}

const hiddenPerHead = (hiddenSize: number, heads: number): number => hiddenSize / heads;

export const FAMILIES = {
  Qwen2ForCausalLM: {
    modelType: "qwen2",
    attentionBias: "qkv",
    mlpBiasField: false,
    qkNorm: false,
    defaultHeadDim: hiddenPerHead,
  },
  Qwen3ForCausalLM: {
    modelType: "qwen3",
    attentionBias: "attention_bias",
    mlpBiasField: false,
    qkNorm: true,
    defaultHeadDim: () => 128, // Qwen3Config's default, independent of hidden / heads
  },
  LlamaForCausalLM: {
    modelType: "llama",
    attentionBias: "attention_bias",
    mlpBiasField: true,
    qkNorm: false,
    defaultHeadDim: hiddenPerHead,
  },
} as const satisfies Record<Architecture, Family>;

/** A supported Hugging Face architecture (config.json "architectures"). */
export type Architecture = "Qwen2ForCausalLM" | "Qwen3ForCausalLM" | "LlamaForCausalLM";
/** Every supported architecture. */
export const ARCHITECTURES = Object.keys(FAMILIES) as readonly Architecture[];

export const isArchitecture = (name: string): name is Architecture => Object.hasOwn(FAMILIES, name);

/** The switches lib/model/decoder.ts reads, as a ModelConfig carries them. */
export interface DecoderSwitches {
  /** q/k/v projections have biases. */
  readonly attentionBias: boolean;
  /** o_proj has a bias. */
  readonly outputBias: boolean;
  /** gate/up/down projections have biases. */
  readonly mlpBias: boolean;
  /** Per-head RMSNorm of queries and keys (q_norm, k_norm weights of shape [head_dim]). */
  readonly qkNorm: boolean;
}

/** A family's switches given config.json's attention_bias and mlp_bias (absent: false). */
export const familySwitches = (
  architecture: Architecture,
  fields: { readonly attentionBias?: boolean; readonly mlpBias?: boolean } = {},
): DecoderSwitches => {
  const family: Family = FAMILIES[architecture];
  const attention = family.attentionBias === "attention_bias" && (fields.attentionBias ?? false);
  return {
    attentionBias: family.attentionBias === "qkv" || attention,
    outputBias: attention,
    mlpBias: family.mlpBiasField && (fields.mlpBias ?? false),
    qkNorm: family.qkNorm,
  };
};
