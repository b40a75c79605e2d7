/**
 * The tensor names and shapes a Hugging Face Qwen2/Llama checkpoint holds for a given config
 * (linear weights in HF layout [out_features, in_features]), and the check that a loaded
 * checkpoint has them all.
 */
import { formatShape, sameShape } from "./host_tensor.ts";
import type { ModelConfig } from "./hf_config.ts";

/** The seven linear projections of a decoder layer, by their short names. */
export const PROJS = ["q", "k", "v", "o", "gate", "up", "down"] as const;
export type Proj = typeof PROJS[number];

const ATTENTION_PROJS: readonly Proj[] = ["q", "k", "v", "o"];

/** The projection's module path inside a layer, e.g. "self_attn.q_proj" or "mlp.down_proj". */
export const projModule = (proj: Proj): string =>
  `${ATTENTION_PROJS.includes(proj) ? "self_attn" : "mlp"}.${proj}_proj`;

export const layerPrefix = (layer: number): string => `model.layers.${layer}`;

/** Input and output features of a projection; its HF weight has shape [out, in]. */
export const projFeatures = (
  config: ModelConfig,
  proj: Proj,
): { readonly in: number; readonly out: number } => {
  const { hiddenSize: h, intermediateSize: i, headDim: d } = config;
  const qWidth = config.numAttentionHeads * d;
  const kvWidth = config.numKeyValueHeads * d;
  const features = {
    q: { in: h, out: qWidth },
    k: { in: h, out: kvWidth },
    v: { in: h, out: kvWidth },
    o: { in: qWidth, out: h },
    gate: { in: h, out: i },
    up: { in: h, out: i },
    down: { in: i, out: h },
  } as const;
  return features[proj];
};

const layerShapes = (config: ModelConfig, layer: number): [string, number[]][] => {
  const prefix = layerPrefix(layer);
  const weights = PROJS.map((proj): [string, number[]] => {
    const { in: inFeatures, out } = projFeatures(config, proj);
    return [`${prefix}.${projModule(proj)}.weight`, [out, inFeatures]];
  });
  const biases = config.attentionBias
    ? (["q", "k", "v"] as const).map((proj): [string, number[]] => [
      `${prefix}.${projModule(proj)}.bias`,
      [projFeatures(config, proj).out],
    ])
    : [];
  return [
    ...weights,
    ...biases,
    [`${prefix}.input_layernorm.weight`, [config.hiddenSize]],
    [`${prefix}.post_attention_layernorm.weight`, [config.hiddenSize]],
  ];
};

/** Every tensor the config implies, with its shape; no lm_head when embeddings are tied. */
export const expectedWeightShapes = (config: ModelConfig): ReadonlyMap<string, readonly number[]> =>
  new Map([
    ["model.embed_tokens.weight", [config.vocabSize, config.hiddenSize]],
    ...Array.from({ length: config.numHiddenLayers }, (_, layer) => layerShapes(config, layer))
      .flat(),
    ["model.norm.weight", [config.hiddenSize]],
    ...(config.tieWordEmbeddings
      ? []
      : [["lm_head.weight", [config.vocabSize, config.hiddenSize]] as [string, number[]]]),
  ]);

/**
 * Throws, listing every problem, unless each expected tensor is present with the shape the
 * config implies. Extra tensors (e.g. a saved lm_head of a tied model) are ignored.
 */
export const validateWeights = (
  config: ModelConfig,
  tensors: ReadonlyMap<string, { readonly shape: readonly number[] }>,
  file: string,
): void => {
  const problems = [...expectedWeightShapes(config)].flatMap(([name, expected]) => {
    const found = tensors.get(name);
    if (found === undefined) return [`missing tensor "${name}" ${formatShape(expected)}`];
    return sameShape(found.shape, expected) ? [] : [
      `tensor "${name}" has shape ${formatShape(found.shape)}, the config implies ${
        formatShape(expected)
      }`,
    ];
  });
  if (problems.length > 0) throw new Error(problems.map((p) => `${file}: ${p}`).join("\n"));
};
