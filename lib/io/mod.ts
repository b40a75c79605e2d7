/**
 * File formats people already have: safetensors, HF model directories, PEFT adapters.
 * @module
 */
export * from "./atomic.ts";
export * from "./half_float.ts";
export * from "./hf_config.ts";
export * from "./host_tensor.ts";
// json_codec.ts (io-ts plumbing for the decoders) stays internal.
export { readJsonFile } from "./json_codec.ts";
export * from "./model_weights.ts";
export * from "./peft.ts";
export * from "./safetensors.ts";
export * from "./weight_layout.ts";
