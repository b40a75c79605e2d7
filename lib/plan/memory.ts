/**
 * The memory planner: before any weight is loaded, the bytes a GRPO + LoRA run will hold —
 * frozen weights, LoRA weights with their gradients and AdamW moments, activations of a training
 * step, the rollout's KV cache — and whether a backend can hold them. A backend that cannot is
 * refused up front in one line with the numbers, instead of dying mid-run (tfjs-wasm's
 * `memory access out of bounds` at its 4 GB heap).
 *
 * Activation figures are per token and per layer, in float32 values, measured on this library's
 * own step with the metered backend (tests/plan/memory.test.ts keeps them an upper bound within
 * 2x of what a step really holds, with and without gradient checkpointing).
 */
import type { ModelConfig } from "../io/hf_config.ts";
import { expectedWeightShapes, type Proj, projFeatures } from "../io/weight_layout.ts";
import { numElements } from "../io/host_tensor.ts";
import type { BackendName } from "../tensor/kernels.ts";

/** What one training step and its rollouts process. */
export interface Workload {
  /** Completions in one micro-batch (prompts per step × generations / accumulation steps). */
  readonly sequences: number;
  readonly promptLength: number;
  readonly completionLength: number;
  /** null trains every base weight (the comparison run). */
  readonly lora: { readonly rank: number; readonly targets: readonly Proj[] } | null;
  readonly gradientCheckpointing: boolean;
  /**
   * Worker threads the backend runs beside this one (the native backend's decoding workers, the
   * pure-TS backend's product workers); none by default.
   */
  readonly workerThreads?: number;
}

export interface MemoryEstimate {
  readonly weights: number;
  /** Trainable weights, their gradients and AdamW's two moments. */
  readonly training: number;
  readonly activations: number;
  readonly kvCache: number;
  /** The worker threads' own memory (their runtime and wasm instance each). */
  readonly workers: number;
  readonly total: number;
}

const F32 = 4;
/** Frozen weights as float32 (backendBudget scales them for backends that store them otherwise). */
const WEIGHT_BYTES = 4;
/**
 * Activation floats per token per layer, by width (see the module comment), with the fused
 * kernels of lib/autodiff/fused.ts (SwiGLU, RMSNorm, RoPE) and the one-op LoRA layer: fitted
 * to the metered step at 1.2-1.7x.
 */
const PER_INTERMEDIATE = 6;
const PER_HIDDEN = 20;
const PER_RANK = 32;
/** A checkpointed layer keeps its input and later its gradient. */
const CHECKPOINT_PER_HIDDEN = 4;
/** The layer being recomputed holds its activations and their gradients at once. */
const RECOMPUTED_LAYER = 1.5;
/**
 * Attention's scores: about five tensors of them per layer, of at most one chunk's 1M values
 * (lib/nn/attention.ts); a layer not checkpointed keeps them for the backward pass.
 */
const ATTENTION_CHUNK_VALUES = 1 << 20;
const ATTENTION_COPIES = 5;
/**
 * One worker thread's resident memory: measured ~17 MB per native decoding worker (Deno, the
 * backend loaded at TINA_THREADS 1, 2, 3: +9, +29, +44 MB), rounded up.
 */
export const WORKER_THREAD_BYTES = 20e6;
/** The LM head's log-probs: about eight tensors of one chunk's 4M logits (lib/rl/head_logprobs). */
const HEAD_CHUNK_VALUES = 1 << 22;
const HEAD_COPIES = 8;

export const baseParameterCount = (config: ModelConfig): number =>
  [...expectedWeightShapes(config).values()].reduce((n, shape) => n + numElements(shape), 0);

export const loraParameterCount = (
  config: ModelConfig,
  lora: NonNullable<Workload["lora"]>,
): number =>
  config.numHiddenLayers *
  lora.targets.reduce((n, proj) => {
    const { in: inputs, out } = projFeatures(config, proj);
    return n + lora.rank * (inputs + out);
  }, 0);

/** Bytes a run of `work` on `config` holds at its peak, by part. */
export const estimateMemory = (config: ModelConfig, work: Workload): MemoryEstimate => {
  const { hiddenSize: h, intermediateSize: inter, numHiddenLayers: layers } = config;
  const weights = baseParameterCount(config) * WEIGHT_BYTES;
  const trainable = work.lora ? loraParameterCount(config, work.lora) : baseParameterCount(config);
  // Weights (the base's are counted above when training them all), gradients, two moments and
  // the update being applied.
  const training = trainable * F32 * (work.lora ? 5 : 4);
  const tokens = work.sequences * (work.promptLength + work.completionLength);
  const rankTerm = work.lora ? PER_RANK * work.lora.rank : 0;
  const length = work.promptLength + work.completionLength;
  const scores = work.sequences * config.numAttentionHeads * length * length;
  const attention = Math.min(scores, ATTENTION_CHUNK_VALUES) * ATTENTION_COPIES * F32;
  const perLayer = tokens * (PER_INTERMEDIATE * inter + PER_HIDDEN * h + rankTerm) * F32 +
    attention;
  const held = work.gradientCheckpointing
    ? layers * tokens * CHECKPOINT_PER_HIDDEN * h * F32 + RECOMPUTED_LAYER * perLayer
    : layers * perLayer;
  const head = Math.min(tokens * config.vocabSize, HEAD_CHUNK_VALUES) * HEAD_COPIES * F32;
  const activations = held + head;
  // Keys and values of every position, and a second copy while a step appends one token.
  const kvWidth = config.numKeyValueHeads * config.headDim;
  const kvCache = 2 * 2 * layers * tokens * kvWidth * F32;
  const workers = (work.workerThreads ?? 0) * WORKER_THREAD_BYTES;
  return {
    weights,
    training,
    activations,
    kvCache,
    workers,
    total: weights + training + Math.max(activations, kvCache) + workers,
  };
};

/** How many bytes a backend can hold, and why (for the refusal message). */
export interface BackendBudget {
  readonly backend: BackendName;
  readonly bytes: number;
  readonly limit: string;
  /**
   * The weights' bytes there relative to float32: 2 on tfjs-wasm (XNNPACK packs its own copy),
   * 0.5 where 16-bit files stay 16-bit (Kernels.uploadHalf), else 1.
   */
  readonly weightFactor: number;
}

/** WebAssembly memory is 32-bit: tfjs-wasm's tensors, weights included, share 4 GiB. */
export const WASM_HEAP_BYTES = 4 * 1024 ** 3;
/** tfjs-wasm keeps transposed copies of reused weights up to this (lib/tensor/tfjs). */
const WASM_TRANSPOSE_CACHE_BYTES = 256 * 1024 ** 2;

/**
 * The CPU backends in the order a run prefers them, fastest first: the native BLAS (Deno, Bun)
 * where it loads, else tfjs-wasm, else pure TS; the planner takes the first that holds the run.
 * Measured on a 2-core AMD EPYC (loaded), 0.99M bench shape (bench/shape.json) train step,
 * tokens/s native vs tfjs-wasm: Deno 2393 / 2176, 2230 / 1348, 2105 / 1057; Bun 3873 / 1846,
 * 3134 / 1560, 1390 / 1427. From 100M parameters the products dominate and native's lead grows;
 * it also keeps 16-bit weights 16-bit, which tfjs-wasm cannot.
 */
export const CPU_PREFERENCE: readonly BackendName[] = ["native", "tfjs-wasm", "ts"];

/** Backends that keep 16-bit weights 16-bit (their kernels have uploadHalf). */
export const HALF_WEIGHT_BACKENDS: readonly BackendName[] = ["ts", "native", "webgpu"];

/**
 * What each backend can hold given `freeBytes` of free host memory: the host's free memory for
 * the CPU backends; for tfjs-wasm no more than its heap, which also holds XNNPACK's packed copy
 * of each weight it multiplies by (measured: the 0.5B shape, 3.4 GB of estimated tensors, ran
 * out of the heap at its first product), so there the weights count twice. `halfWeights`: the
 * checkpoint is BF16/F16, which HALF_WEIGHT_BACKENDS keep at two bytes a value.
 */
export const backendBudget = (
  backend: BackendName,
  freeBytes: number,
  halfWeights = false,
): BackendBudget =>
  backend === "tfjs-wasm"
    ? {
      backend,
      bytes: Math.min(freeBytes, WASM_HEAP_BYTES - WASM_TRANSPOSE_CACHE_BYTES),
      limit: freeBytes < WASM_HEAP_BYTES ? "free memory" : "its 4 GiB WebAssembly heap",
      weightFactor: 2,
    }
    : {
      backend,
      bytes: freeBytes,
      limit: "free memory",
      weightFactor: halfWeights && HALF_WEIGHT_BACKENDS.includes(backend) ? 0.5 : 1,
    };

/** The bytes a run needs on a backend, its float32 weights scaled by `weightFactor`. */
export const neededBytes = (e: MemoryEstimate, weightFactor: number): number =>
  e.total + (weightFactor - 1) * e.weights;

const gb = (bytes: number): string => `${(bytes / 1e9).toFixed(2)} GB`;

/** One line: what the run needs on a backend (weights scaled by `weightFactor`), by part. */
export const describeEstimate = (e: MemoryEstimate, weightFactor = 1): string => {
  const weights = `${gb(e.weights)}${weightFactor !== 1 ? ` x ${weightFactor}` : ""}`;
  return `${gb(neededBytes(e, weightFactor))} (weights ${weights}, LoRA/optimizer ${
    gb(e.training)
  }, activations ${gb(e.activations)}, KV cache ${gb(e.kvCache)}${
    e.workers > 0 ? `, worker threads ${gb(e.workers)}` : ""
  })`;
};

/** null when the run fits the budget, else the one-line reason. */
export const refusal = (e: MemoryEstimate, budget: BackendBudget): string | null =>
  neededBytes(e, budget.weightFactor) <= budget.bytes
    ? null
    : `backend ${budget.backend} cannot hold this run: it needs ${
      describeEstimate(e, budget.weightFactor)
    }, over ${budget.limit} (${gb(budget.bytes)}); try gradientCheckpointing, fewer or shorter ` +
      `sequences per step (gradientAccumulationSteps), or another backend`;

/**
 * The backend to run on: `requested` if given and it fits (else an error with the numbers), or
 * the first of `preferred` that fits (else an error naming the smallest shortfall).
 */
export const chooseBackend = (
  e: MemoryEstimate,
  requested: BackendName | null,
  preferred: readonly BackendName[],
  freeBytes: number,
  halfWeights = false,
): BackendName => {
  const candidates = requested === null ? preferred : [requested];
  const reasons = candidates.map((name) => refusal(e, backendBudget(name, freeBytes, halfWeights)));
  const fits = candidates.find((_, i) => reasons[i] === null);
  if (fits !== undefined) return fits;
  throw new Error(reasons.at(-1)!);
};
