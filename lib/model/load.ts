/**
 * The public, file-facing surface of models: load a Hugging Face directory onto a backend,
 * load and save PEFT adapters, and compute logits for plain id arrays.
 */
import { scope, Tensor, toArray } from "../autodiff/tensor.ts";
import { readModelConfig } from "../io/hf_config.ts";
import { type ModelWeightsIndex, openModelWeights } from "../io/model_weights.ts";
import { halfFormatOf, readHalfBits } from "../io/tensor_bits.ts";
import { expectedWeightShapes, validateWeights } from "../io/weight_layout.ts";
import {
  type Adapter as HostAdapter,
  type LoraConfig,
  readAdapter,
  writeAdapter,
} from "../io/peft.ts";
import { type Backend, loadBackend } from "../tensor/backends.ts";
import { adapterToDevice, adapterToHost, loraScaling } from "./adapter.ts";
import { type DecoderParams, forward, type LoraWeights, type ModelConfig } from "./decoder.ts";
import { paramsFromTensors, uploadWeight } from "./weights.ts";

export interface Model {
  readonly dir: string;
  readonly config: ModelConfig;
  readonly params: DecoderParams;
  readonly backend: Backend;
}

/** A LoRA adapter on a backend: its PEFT config and weights. */
export interface LoadedAdapter {
  readonly config: LoraConfig;
  readonly weights: LoraWeights;
}

export const loadModel = async (
  dir: string,
  opts: { readonly backend?: Backend | string } = {},
): Promise<Model> => {
  const backend = typeof opts.backend === "object"
    ? opts.backend
    : await loadBackend(opts.backend ?? "ts");
  const config = await readModelConfig(dir);
  const index = await openModelWeights(dir);
  validateWeights(config, index.tensors, index.source);
  // One tensor at a time, read and uploaded before the next is read, so loading holds the
  // weights once plus one tensor; 16-bit matrices stay 16-bit where the backend keeps them so.
  const uploaded = new Map<string, readonly Tensor[]>();
  for (const name of expectedWeightShapes(config).keys()) {
    uploaded.set(name, await streamWeight(backend, index, name));
  }
  return { dir, config, params: paramsFromTensors(config, (name) => uploaded.get(name)!), backend };
};

const streamWeight = async (
  backend: Backend,
  index: ModelWeightsIndex,
  name: string,
): Promise<readonly Tensor[]> => {
  const info = index.tensors.get(name)!;
  const format = halfFormatOf(info.dtype);
  const uploadHalf = backend.kernels.uploadHalf;
  if (
    format !== null && uploadHalf && info.shape.length === 2 &&
    backend.maxBindingBytes === undefined
  ) {
    const bits = await readHalfBits(name, info);
    return [new Tensor(backend, uploadHalf(bits, format, info.shape), info.shape, "float32")];
  }
  return uploadWeight(backend, name, await index.read(name));
};

export const loadAdapter = async (dir: string, model: Model): Promise<LoadedAdapter> => {
  const host: HostAdapter = await readAdapter(dir, model.config);
  return { config: host.config, weights: adapterToDevice(model.backend, host) };
};

export const saveAdapter = async (dir: string, adapter: LoadedAdapter): Promise<void> =>
  writeAdapter(dir, await adapterToHost(adapter.config, adapter.weights));

/** Logits [B, T, V] for equal-length rows of token ids, with or without an adapter. */
export const logits = async (
  model: Model,
  ids: readonly (readonly number[])[],
  opts: { readonly adapter?: LoadedAdapter | null } = {},
): Promise<{ data: Float32Array; shape: [number, number, number] }> => {
  const adapter = opts.adapter
    ? { weights: opts.adapter.weights, scaling: loraScaling(opts.adapter.config) }
    : null;
  const out = scope(() => forward(model.config, model.params, ids, { adapter }).logits);
  const data = (await toArray(out)) as Float32Array;
  const shape = out.shape as [number, number, number];
  out.dispose();
  return { data, shape };
};
