/**
 * tina-ts: GRPO + LoRA post-training of small language models (the method of "Tina: Tiny
 * Reasoning Models via LoRA", arXiv 2504.15777) in TypeScript, on Deno, Bun and Node, CPU and
 * WebGPU. This module is the public surface; see README.md for a tour.
 */

// Tensors, backends and autodiff
export {
  availableBackends,
  type Backend,
  type BackendCapabilities,
  capabilitiesOf,
  loadBackend,
  tsBackend,
} from "./lib/tensor/backends.ts";
export {
  type AdamCoefficients,
  type BackendName,
  backendNames,
  type BinaryOp,
  type CompareOp,
  type DType,
  type HostArray,
  type Kernels,
  type ReduceOp,
  type Shape,
  type UnaryOp,
} from "./lib/tensor/kernels.ts";
export type { HalfFormat } from "./lib/tensor/half.ts";
export {
  fill,
  keep,
  liveTensors,
  ones,
  scalar,
  scope,
  Tensor,
  tensor,
  toArray,
  toArraySync,
  toScalar,
  zeros,
} from "./lib/autodiff/tensor.ts";
/** Differentiable tensor operations (matmul, softmax, gather, ...), each with its gradient rule. */
export * as ops from "./lib/autodiff/ops.ts";
export { stopGradient } from "./lib/autodiff/ops.ts";
export { grad, isTensor, valueAndGrad, valueAndGradWithAux } from "./lib/autodiff/grad.ts";
export { treeFlatten, treeLeaves, treeMap, treeUnflatten, treeZip } from "./lib/tree.ts";
export * from "./lib/random/prng.ts";

// Files
export * from "./lib/io/mod.ts";
export * from "./lib/tokenizer/mod.ts";

// The model
export {
  type AppliedLora,
  type DecoderParams,
  forward,
  type ForwardOptions,
  hiddenStates,
  hiddenStatesFromEmbeds,
  initLora,
  initParams,
  type LoraWeights,
} from "./lib/model/decoder.ts";
export type { AttentionParams, LayerParams } from "./lib/model/decoder.ts";
export type { LinearParams } from "./lib/nn/linear.ts";
export type { MlpParams } from "./lib/nn/mlp.ts";
export type { KVEntry } from "./lib/nn/attention.ts";
export type { DecoderSwitches } from "./lib/families.ts";
export { adapterToDevice, adapterToHost } from "./lib/model/adapter.ts";
export {
  loadAdapter,
  loadModel,
  logits,
  type LoraAdapter,
  mergeAdapter,
  type Model,
  saveAdapter,
} from "./lib/model/load.ts";
export { paramsFromWeights, weightsFromParams } from "./lib/model/weights.ts";
export { tinyModelDir } from "./lib/tiny_model.ts";
export {
  blockLogits,
  blockRows,
  embedDeviceIds,
  embedLookup,
  rowsToHost,
  splitRows,
} from "./lib/nn/vocab_blocks.ts";
export {
  type FinishReason,
  generate,
  generateFromParams,
  type GenerateOptions,
  type Generation,
  type ModelGenerateOptions,
  SYNC_EVERY,
} from "./lib/sampling/generate.ts";
export { type DeviceDraw, sampleOnDevice, samplesOnDevice } from "./lib/sampling/device_sample.ts";
export * from "./lib/sampling/processors.ts";

// RL
export * from "./lib/rewards/mod.ts";
export * from "./lib/rl/mod.ts";
export * from "./lib/optim/mod.ts";
export * from "./lib/train/mod.ts";

// Data and evaluation
export {
  type ArithmeticOptions,
  arithmeticSplits,
  DEFAULT_ARITHMETIC_OPTIONS,
  generateArithmetic,
  type Operator,
} from "./lib/data/tasks/arithmetic.ts";
export {
  appendJsonl,
  formatJsonl,
  type JsonlError,
  type JsonlExample,
  type JsonlOptions,
  type JsonlParse,
  parseJsonl,
  readJsonl,
  writeJsonl,
} from "./lib/io/jsonl.ts";
export { SYSTEM_PROMPT, taskPrompt } from "./lib/data/prompt.ts";
export {
  ANSWER_CLOSE,
  ANSWER_OPEN,
  formatCompletion,
  THINK_CLOSE,
  THINK_OPEN,
} from "./lib/format_tags.ts";
export * from "./lib/eval/mod.ts";
export * from "./lib/report/mod.ts";
