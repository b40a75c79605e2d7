/** File formats people already have: safetensors, HF model directories, PEFT adapters. */
export * from "./atomic.ts";
export * from "./half_float.ts";
export * from "./hf_config.ts";
export * from "./host_tensor.ts";
export * from "./json_codec.ts";
export * from "./model_weights.ts";
export * from "./peft.ts";
export * from "./safetensors.ts";
export * from "./weight_layout.ts";
