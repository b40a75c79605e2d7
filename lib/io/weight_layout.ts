/**
 * The tensor names and shapes a Hugging Face Qwen2/Qwen3/Llama checkpoint holds for a given
 * config (linear weights in HF layout [out_features, in_features]; biases and q/k norms as the
 * config's family switches say), and the check that a checkpoint holds exactly those.
 */
import { formatShape, sameShape } from "./host_tensor.ts";
import type { ModelConfig } from "./hf_config.ts";
import { formatProblems, quote } from "./json_codec.ts";

/** The seven linear projections of a decoder layer, by their short names. */
export const PROJS = ["q", "k", "v", "o", "gate", "up", "down"] as const;
/** A projection's short name. */
export type Proj = typeof PROJS[number];

const ATTENTION_PROJS: readonly Proj[] = ["q", "k", "v", "o"];

/** The projection's module path inside a layer, e.g. "self_attn.q_proj" or "mlp.down_proj". */
export const projModule = (proj: Proj): string =>
  `${ATTENTION_PROJS.includes(proj) ? "self_attn" : "mlp"}.${proj}_proj`;

/** The Hugging Face name prefix of decoder layer `layer`. */
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

/** Whether the projection has a bias under the config's family switches. */
export const projHasBias = (config: ModelConfig, proj: Proj): boolean =>
  proj === "o"
    ? config.outputBias
    : ATTENTION_PROJS.includes(proj)
    ? config.attentionBias
    : config.mlpBias;

/** The per-head q/k RMSNorm weights of a layer (Qwen3), by HF name: none unless config.qkNorm. */
export const headNormNames = (config: ModelConfig, layer: number): readonly string[] =>
  config.qkNorm
    ? ["q_norm", "k_norm"].map((norm) => `${layerPrefix(layer)}.self_attn.${norm}.weight`)
    : [];

const layerShapes = (config: ModelConfig, layer: number): [string, number[]][] => {
  const prefix = layerPrefix(layer);
  const weights = PROJS.map((proj): [string, number[]] => {
    const { in: inFeatures, out } = projFeatures(config, proj);
    return [`${prefix}.${projModule(proj)}.weight`, [out, inFeatures]];
  });
  const bias = (proj: Proj): [string, number[]] => [
    `${prefix}.${projModule(proj)}.bias`,
    [projFeatures(config, proj).out],
  ];
  return [
    ...weights,
    ...PROJS.filter((proj) => projHasBias(config, proj)).map(bias),
    ...headNormNames(config, layer).map((name): [string, number[]] => [name, [config.headDim]]),
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

const FLOAT_DTYPES: readonly string[] = ["F32", "F16", "BF16"];

/** Why a tensor the checkpoint holds but the config does not imply is there, if we can tell. */
const unexpectedHint = (config: ModelConfig, name: string): string => {
  const arch = `config.json's ${config.architecture}`;
  if (name === "lm_head.weight") return ` (${arch} ties word embeddings: tie_word_embeddings)`;
  if (/\.(q|k)_norm\.weight$/.test(name)) return ` (${arch} has no q/k norms: a Qwen3 checkpoint?)`;
  if (/\.bias$/.test(name)) return ` (${arch} implies no such bias)`;
  const layer = /^model\.layers\.(\d+)\./.exec(name);
  if (layer && Number(layer[1]) >= config.numHiddenLayers) {
    return ` (config.json has num_hidden_layers ${config.numHiddenLayers})`;
  }
  return "";
};

/**
 * Throws, listing every problem (as transformers reports missing and unexpected keys), unless
 * the checkpoint holds exactly the tensors the config implies: each present with its shape and
 * a float dtype (where `dtype` is known, i.e. before loading), and none left over. So a config
 * whose architecture or layer count does not match its weights is refused, not half-loaded.
 */
export const validateWeights = (
  config: ModelConfig,
  tensors: ReadonlyMap<string, { readonly shape: readonly number[]; readonly dtype?: string }>,
  file: string,
): void => {
  // Each layer has several tensors: a larger layer count cannot match, and listing its
  // expected names (num_hidden_layers 10^9) would take minutes and gigabytes.
  if (config.numHiddenLayers > tensors.size) {
    throw new Error(
      `${file}: config.json has num_hidden_layers ${config.numHiddenLayers}, more layers than ` +
        `the ${tensors.size} tensors here could hold`,
    );
  }
  const expected = expectedWeightShapes(config);
  const problems = [...expected].flatMap(([name, shape]) => {
    const found = tensors.get(name);
    if (found === undefined) return [`missing tensor "${name}" ${formatShape(shape)}`];
    if (found.dtype !== undefined && !FLOAT_DTYPES.includes(found.dtype)) {
      return [`tensor "${name}" has dtype ${found.dtype}, model weights are F32, F16 or BF16`];
    }
    return sameShape(found.shape, shape) ? [] : [
      `tensor "${name}" has shape ${formatShape(found.shape)}, the config implies ${
        formatShape(shape)
      }`,
    ];
  });
  const unexpected = [...tensors.keys()].filter((name) => !expected.has(name)).map((name) =>
    `unexpected tensor ${quote(name)}${unexpectedHint(config, name)}`
  );
  const all = [...problems, ...unexpected];
  if (all.length > 0) throw new Error(formatProblems(file, all));
};
