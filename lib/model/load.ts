/**
 * The public, file-facing surface of models: load a Hugging Face directory onto a backend,
 * load and save PEFT adapters, and compute logits for plain id arrays.
 */
import { scope, Tensor, toArray } from "../autodiff/tensor.ts";
import { readModelConfig } from "../io/hf_config.ts";
import { type ModelWeightsIndex, openModelWeights } from "../io/model_weights.ts";
import { freeBuffer } from "../io/free_buffer.ts";
import { halfFormatOf, readHalfBits } from "../io/tensor_bits.ts";
import { expectedWeightShapes, validateWeights } from "../io/weight_layout.ts";
import { type LoraConfig, type PeftAdapter, readAdapter, writeAdapter } from "../io/peft.ts";
import { type Backend, loadBackend } from "../tensor/backends.ts";
import { HalfMatrix } from "../tensor/half.ts";
import { adapterToDevice, adapterToHost, loraScaling } from "./adapter.ts";
import {
  type AppliedLora,
  type DecoderParams,
  forward,
  type LoraWeights,
  mergeLora,
  type ModelConfig,
} from "./decoder.ts";
import { checkLoraAdapter, checkModel } from "./guards.ts";
import { blockRows } from "../nn/vocab_blocks.ts";
import { paramsFromTensors, uploadWeight, VOCAB_MATRICES } from "./weights.ts";

/** A model loaded onto a backend: its directory, config and base weights. */
export interface Model {
  /** The directory it was loaded from. */
  readonly dir: string;
  /** The architecture (config.json, checked). */
  readonly config: ModelConfig;
  /** The base weights on the backend. */
  readonly params: DecoderParams;
  /** Where the weights live. */
  readonly backend: Backend;
}

/**
 * A LoRA adapter on a device: its PEFT config and weights as tensors (loadAdapter's result; what
 * generate, logits, evaluate and mergeAdapter take). On the host it is a PeftAdapter.
 */
export interface LoraAdapter {
  /** Its PEFT config (rank, alpha, targets, ...). */
  readonly config: LoraConfig;
  /** The A and B matrices on the model's backend. */
  readonly weights: LoraWeights;
}

/** Loads a Hugging Face model directory (config.json + safetensors, sharded or not; Qwen2, Qwen3, Llama) onto a backend: "ts" (pure TypeScript) by default; "tfjs-wasm" is the fastest on CPUs, "webgpu" uses a GPU (Deno). */
export const loadModel = async (
  dir: string,
  opts: {
    readonly backend?: Backend | string;
    /** Load weights holding NaN or infinities instead of refusing them (refused by default). */
    readonly allowNonFinite?: boolean;
  } = {},
): Promise<Model> => {
  const backend = typeof opts.backend === "object"
    ? opts.backend
    : await loadBackend(opts.backend ?? "ts");
  const config = await readModelConfig(dir);
  const index = await openModelWeights(dir, { allowNonFinite: opts.allowNonFinite });
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
  if (format !== null && uploadHalf && info.shape.length === 2) {
    const bits = await readHalfBits(name, info, index.options);
    // Vocabulary matrices in row blocks, as uploadWeight splits them (WebGPU's binding limit).
    const [rows, cols] = info.shape;
    const per = VOCAB_MATRICES.includes(name)
      ? blockRows(rows, cols, backend.maxBindingBytes)
      : rows;
    const blocks = Array.from({ length: Math.ceil(rows / per) }, (_, i) => {
      const shape = [Math.min(per, rows - i * per), cols];
      const block = bits.subarray(i * per * cols, (i * per + shape[0]) * cols);
      return new Tensor(backend, uploadHalf(block, format, shape), shape, "float32");
    });
    // The backends copy the bits where they keep weights; the read buffer goes now, not when
    // collected (which left loading's peak at 1.26x the weights).
    const kept = blocks.some((t) =>
      t.handle instanceof HalfMatrix && t.handle.bits.buffer === bits.buffer
    );
    if (!kept) freeBuffer(bits);
    return blocks;
  }
  return uploadWeight(backend, name, await index.read(name));
};

/** Reads a PEFT adapter directory and puts it on the model's backend; its shapes are checked against the model. */
export const loadAdapter = async (dir: string, model: Model): Promise<LoraAdapter> => {
  const host: PeftAdapter = await readAdapter(dir, model.config);
  return { config: host.config, weights: adapterToDevice(model.backend, host) };
};

/** Writes an adapter as PEFT does (adapter_config.json + adapter_model.safetensors). */
export const saveAdapter = async (dir: string, adapter: LoraAdapter): Promise<void> => {
  if (adapter === null || adapter === undefined) {
    throw new TypeError("saveAdapter: no adapter given");
  }
  checkLoraAdapter("saveAdapter", adapter);
  await writeAdapter(dir, await adapterToHost(adapter.config, adapter.weights));
};

/** The forward's form of an adapter: its weights with PEFT's scaling. */
export const appliedLora = (adapter: LoraAdapter | null | undefined): AppliedLora | null =>
  adapter ? { weights: adapter.weights, scaling: loraScaling(adapter.config) } : null;

/**
 * The model with the adapter merged into its weights (W + scaling · B A): same outputs as the
 * model with the adapter, no adapter needed (export it with writeSafetensors).
 */
export const mergeAdapter = (model: Model, adapter: LoraAdapter): Model => {
  checkModel("mergeAdapter", model);
  if (adapter === null || adapter === undefined) {
    throw new TypeError("mergeAdapter: no adapter given");
  }
  checkLoraAdapter("mergeAdapter", adapter, model);
  return { ...model, params: mergeLora(model.params, appliedLora(adapter)!) };
};

/** Logits [B, T, V] for equal-length rows of token ids, with or without an adapter. */
export const logits = async (
  model: Model,
  ids: readonly (readonly number[])[],
  opts: { readonly adapter?: LoraAdapter | null } = {},
): Promise<{ data: Float32Array; shape: [number, number, number] }> => {
  checkModel("logits", model);
  checkLoraAdapter("logits", opts.adapter, model);
  const adapter = appliedLora(opts.adapter);
  const out = scope(() => forward(model.config, model.params, ids, { adapter }).logits);
  const data = (await toArray(out)) as Float32Array;
  const shape = out.shape as [number, number, number];
  out.dispose();
  return { data, shape };
};
