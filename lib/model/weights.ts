/** Between Hugging Face tensor names (host arrays) and the model's params tree (tensors). */
import { type Tensor, tensor } from "../autodiff/tensor.ts";
import type { Backend } from "../tensor/backends.ts";
import type { HostTensor } from "../io/host_tensor.ts";
import {
  headNormNames,
  layerPrefix,
  type Proj,
  projHasBias,
  projModule,
  validateWeights,
} from "../io/weight_layout.ts";
import type { LinearParams } from "../nn/linear.ts";
import { rowsToHost, splitRows } from "../nn/vocab_blocks.ts";
import type { DecoderParams, ModelConfig } from "./decoder.ts";

/**
 * Uploads checked HF weights into a params tree. `file` names the source in errors. The
 * vocabulary-sized matrices are split into row blocks on the host first, under the backend's
 * maxBindingBytes, so no oversize tensor is ever uploaded.
 */
export const paramsFromWeights = (
  backend: Backend,
  cfg: ModelConfig,
  weights: ReadonlyMap<string, HostTensor>,
  file: string,
): DecoderParams => {
  validateWeights(cfg, weights, file);
  return paramsFromTensors(cfg, (name) => uploadWeight(backend, name, weights.get(name)!));
};

/** The vocabulary-sized matrices, kept as row blocks (lib/nn/vocab_blocks.ts). */
export const VOCAB_MATRICES: readonly string[] = ["model.embed_tokens.weight", "lm_head.weight"];

/** One host weight on the backend: row blocks for a vocabulary matrix, else one tensor. */
export const uploadWeight = (backend: Backend, name: string, w: HostTensor): readonly Tensor[] =>
  VOCAB_MATRICES.includes(name)
    ? splitRows(backend, w.data, w.shape)
    : [tensor(backend, w.data, w.shape)];

/**
 * The params tree from weights already on the backend, by HF name (as uploadWeight gives them):
 * what a streaming loader builds once every tensor is uploaded.
 */
export const paramsFromTensors = (
  cfg: ModelConfig,
  get: (name: string) => readonly Tensor[],
): DecoderParams => {
  const up = (name: string): Tensor => get(name)[0];
  const rows = get;
  const lin = (layer: number, proj: Proj): LinearParams => {
    const base = `${layerPrefix(layer)}.${projModule(proj)}`;
    return {
      weight: up(`${base}.weight`),
      bias: projHasBias(cfg, proj) ? up(`${base}.bias`) : null,
    };
  };
  const headNorms = (layer: number) => {
    const [q, k] = headNormNames(cfg, layer);
    return { qNorm: q ? up(q) : null, kNorm: k ? up(k) : null };
  };
  return {
    embed: rows("model.embed_tokens.weight"),
    layers: Array.from({ length: cfg.numHiddenLayers }, (_, i) => ({
      inputNorm: up(`${layerPrefix(i)}.input_layernorm.weight`),
      attn: { q: lin(i, "q"), k: lin(i, "k"), v: lin(i, "v"), o: lin(i, "o"), ...headNorms(i) },
      postNorm: up(`${layerPrefix(i)}.post_attention_layernorm.weight`),
      mlp: { gate: lin(i, "gate"), up: lin(i, "up"), down: lin(i, "down") },
    })),
    norm: up("model.norm.weight"),
    lmHead: cfg.tieWordEmbeddings ? null : rows("lm_head.weight"),
  };
};

/** The params tree as HF-named host tensors (for writing model.safetensors); blocks rejoined. */
export const weightsFromParams = async (
  cfg: ModelConfig,
  params: DecoderParams,
): Promise<Map<string, HostTensor>> => {
  const named: [string, readonly Tensor[]][] = [["model.embed_tokens.weight", params.embed]];
  params.layers.forEach((layer, i) => {
    const p = layerPrefix(i);
    named.push([`${p}.input_layernorm.weight`, [layer.inputNorm]]);
    named.push([`${p}.post_attention_layernorm.weight`, [layer.postNorm]]);
    const { qNorm, kNorm, ...attn } = layer.attn;
    const linears: Record<Proj, LinearParams> = { ...attn, ...layer.mlp };
    for (const [proj, lin] of Object.entries(linears) as [Proj, LinearParams][]) {
      const base = `${p}.${projModule(proj)}`;
      named.push([`${base}.weight`, [lin.weight]]);
      if (lin.bias) named.push([`${base}.bias`, [lin.bias]]);
    }
    const [qName, kName] = headNormNames(cfg, i);
    if (qNorm && kNorm) named.push([qName, [qNorm]], [kName, [kNorm]]);
  });
  named.push(["model.norm.weight", [params.norm]]);
  if (!cfg.tieWordEmbeddings && params.lmHead) named.push(["lm_head.weight", params.lmHead]);
  const out = new Map<string, HostTensor>();
  for (const [name, blocks] of named) out.set(name, await rowsToHost(blocks));
  return out;
};
