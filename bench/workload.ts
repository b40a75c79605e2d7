/**
 * The one benchmark workload every model suite (and bench/compare-pytorch) runs: a ~1M-parameter
 * Qwen2 shape, batch and sequence sizes, LoRA rank and GRPO settings, read from bench/shape.json
 * so that the PyTorch comparison reads the very same numbers.
 */
import * as t from "io-ts";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { Backend } from "../lib/tensor/backends.ts";
import { readJsonWith } from "../lib/io/json_codec.ts";
import {
  type AppliedLora,
  type DecoderParams,
  initLora,
  initParams,
  type ModelConfig,
} from "../lib/model/decoder.ts";
import { familySwitches } from "../lib/families.ts";
import { disposeReplaced } from "../lib/optim/mod.ts";
import { foldIn, type Key, prngKey, uniform } from "../lib/random/prng.ts";

const Positive = t.refinement(t.number, (n) => n > 0, "PositiveNumber");
const Count = t.refinement(t.number, (n) => Number.isInteger(n) && n > 0, "PositiveInt");

const ShapeCodec = t.type({
  model: t.type({
    vocabSize: Count,
    hiddenSize: Count,
    intermediateSize: Count,
    numHiddenLayers: Count,
    numAttentionHeads: Count,
    numKeyValueHeads: Count,
    headDim: Count,
    rmsNormEps: Positive,
    ropeTheta: Positive,
    tieWordEmbeddings: t.boolean,
    attentionBias: t.boolean,
  }),
  batch: Count,
  /** Tokens per sequence the forward and the training step see. */
  sequence: Count,
  /** Of which prompt (the training step scores the rest as the completion). */
  promptLength: Count,
  lora: t.type({ rank: Count, alpha: Positive }),
  grpo: t.type({
    beta: Positive,
    epsilon: Positive,
    learningRate: Positive,
    maxGradNorm: Positive,
  }),
  decode: t.type({ batches: t.array(Count), promptLength: Count, newTokens: Count }),
});

export type BenchShape = t.TypeOf<typeof ShapeCodec>;

/** bench/shape.json, or the file TINA_BENCH_SHAPE names (bench/gpu.sh's 0.5B shape). */
export const shapePath = process.env.TINA_BENCH_SHAPE ??
  fileURLToPath(new URL("./shape.json", import.meta.url));
export const shape: BenchShape = await readJsonWith(ShapeCodec, shapePath);

export const modelConfig: ModelConfig = {
  architecture: "Qwen2ForCausalLM",
  ...familySwitches("Qwen2ForCausalLM"),
  ropeScaling: null,
  ...shape.model,
  maxPositionEmbeddings: 4096,
  dtype: "float32",
  bosTokenId: null,
  eosTokenIds: [],
};

/** Parameters of the base model (embeddings counted once when tied). */
export const parameterCount = (cfg: ModelConfig): number => {
  const { hiddenSize: h, intermediateSize: f, headDim: d } = cfg;
  const q = cfg.numAttentionHeads * d;
  const kv = cfg.numKeyValueHeads * d;
  const attention = 2 * h * q + 2 * h * kv + (cfg.attentionBias ? q + 2 * kv : 0);
  const layer = attention + 3 * h * f + 2 * h;
  const embeddings = cfg.vocabSize * h * (cfg.tieWordEmbeddings ? 1 : 2);
  return cfg.numHiddenLayers * layer + embeddings + h;
};

/** A short label naming the model shape, for the `shape` column. */
export const modelLabel = `qwen2 ${(parameterCount(modelConfig) / 1e6).toFixed(2)}M ` +
  `(h${modelConfig.hiddenSize} L${modelConfig.numHiddenLayers} V${modelConfig.vocabSize})`;

const root = prngKey(2504);

export const benchParams = (backend: Backend): DecoderParams =>
  initParams(backend, modelConfig, foldIn(root, 0));

export const loraScaling = shape.lora.alpha / shape.lora.rank;

/** LoRA on all seven projections with PEFT's init (B = 0). */
export const benchAdapter = (backend: Backend): AppliedLora => ({
  weights: initLora(backend, modelConfig, foldIn(root, 1), shape.lora.rank),
  scaling: loraScaling,
});

/** Uniform random token ids [rows][length]. */
export const randomIds = (key: Key, rows: number, length: number): number[][] => {
  const u = uniform(key, rows * length);
  return Array.from(
    { length: rows },
    (_, r) =>
      Array.from(
        { length },
        (_, i) => Math.floor(u[r * length + i] * modelConfig.vocabSize),
      ),
  );
};

export const benchKey = (stream: number): Key => foldIn(root, 100 + stream);

/** Frees every tensor in a tree (params, adapters, optimizer state) once a suite is done with it. */
export const disposeAll = (tree: unknown): void => disposeReplaced(tree, null);
