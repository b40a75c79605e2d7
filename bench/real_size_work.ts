/**
 * The work bench/real-size.ts times on a model directory, and what it reports: greedy decoding
 * with the KV cache at each batch size after a 32-token prompt, then one GRPO + LoRA training
 * step (reference log-probs, policy forward and backward to LoRA r 32 on all seven projections,
 * clipping, AdamW, as the trainer's). bench/compare-pytorch/real_size.py does the same in
 * PyTorch. Each figure is one timed run.
 */
import { valueAndGrad } from "../lib/autodiff/grad.ts";
import { stopGradient } from "../lib/autodiff/ops.ts";
import { scope, tensor, toArray } from "../lib/autodiff/tensor.ts";
import { initLora, type LoraWeights } from "../lib/model/decoder.ts";
import { loadModel } from "../lib/model/load.ts";
import { adamw, applyUpdates, chain, clipByGlobalNorm, globalNorm } from "../lib/optim/mod.ts";
import { foldIn, normal, prngKey, uniform } from "../lib/random/prng.ts";
import { grpoLoss } from "../lib/rl/mod.ts";
import { generateFromParams } from "../lib/sampling/generate.ts";
import type { Backend } from "../lib/tensor/backends.ts";
import { meteredBackend } from "../lib/tensor/metered.ts";
import { completionLogProbs } from "../lib/train/completion_logprobs.ts";
import { packBatch } from "../lib/train/sequences.ts";

/** Sizes of the measured work. */
export interface RealSizeWork {
  /** Decoding batch sizes. */
  readonly batches: readonly number[];
  /** Tokens decoded per row. */
  readonly newTokens: number;
  /** Rows of the training step. */
  readonly sequences: number;
  /** Prompt tokens per training row. */
  readonly prompt: number;
  /** Completion tokens per training row (the forward sees prompt + completion). */
  readonly completion: number;
  /** Per-layer gradient checkpointing in the policy forward. */
  readonly checkpointing: boolean;
}

/** What one measurement found (seconds from `now`, bytes from the metered backend). */
export interface RealSizeResult {
  readonly dtype: string;
  readonly loadSeconds: number;
  readonly weightBytes: number;
  /** Tokens per second at each batch size, keyed `batch<B>`: prefill and newTokens steps. */
  readonly decodeTokensPerSecond: Readonly<Record<string, number>>;
  /**
   * Seconds of the prompt's prefill and one token alone, keyed the same (a second run): what
   * remains of the decoding time is the per-token steps.
   */
  readonly prefillSeconds: Readonly<Record<string, number>>;
  readonly trainStep: {
    readonly sequences: number;
    readonly tokens: number;
    readonly gradientCheckpointing: boolean;
    readonly seconds: number;
    readonly tokensPerSecond: number;
    readonly peakTensorBytes: number;
    /** The GRPO loss and the global norm of the applied update (0: nothing was trained). */
    readonly loss: number;
    readonly updateNorm: number;
  };
}

const LORA_RANK = 32;
const LORA_SCALING = 2; // Tina's α 64 / r 32; the scaling does not change the work

/** Loads `modelDir` on `backend` and times the decoding and the training step of `work`. */
export const measureRealSize = async (
  modelDir: string,
  baseBackend: Backend,
  work: RealSizeWork,
  now: () => number,
): Promise<RealSizeResult> => {
  const key = prngKey(0);
  const { backend, meter } = meteredBackend(baseBackend);
  let started = now();
  const model = await loadModel(modelDir, { backend });
  const loadSeconds = (now() - started) / 1000;
  const weightBytes = meter.live();
  const cfg = model.config;
  // ids below 1000 (or the vocabulary), as real_size.py draws them
  const randomIds = (k: number, rows: number, width: number) =>
    Array.from(
      { length: rows },
      (_, r) =>
        Array.from(uniform(foldIn(foldIn(key, k), r), width), (u) =>
          Math.floor(u * Math.min(cfg.vocabSize, 1000))),
    );

  const decode: Record<string, number> = {};
  const prefill: Record<string, number> = {};
  const generate = async (batch: number, newTokens: number): Promise<number> => {
    started = now();
    await generateFromParams(cfg, model.params, randomIds(1, batch, 32), {
      maxNewTokens: newTokens,
      stopTokens: [],
      padToken: 0,
      key,
      temperature: 0,
    });
    return (now() - started) / 1000;
  };
  for (const batch of work.batches) {
    decode[`batch${batch}`] = (batch * work.newTokens) / await generate(batch, work.newTokens);
    // after the timed run, so that it does not warm that one up
    prefill[`batch${batch}`] = await generate(batch, 1);
  }

  const { sequences, prompt, completion } = work;
  // completion + 1 targets: the forward drops the last position, so it sees prompt + completion
  const batch = packBatch(
    randomIds(2, sequences, prompt),
    randomIds(3, sequences, completion + 1),
    0,
  );
  const rows = batch.ids.map((_, i) => i);
  const mask = tensor(backend, new Float32Array(sequences * (completion + 1)).fill(1), [
    sequences,
    completion + 1,
  ]);
  const advantages = tensor(backend, normal(foldIn(key, 4), sequences), [sequences]);
  const weights = initLora(backend, cfg, foldIn(key, 5), LORA_RANK);
  const optimizer = chain(clipByGlobalNorm(1), adamw({ lr: 1e-6 }));
  meter.resetPeak();
  started = now();
  const refLogp = scope(() =>
    stopGradient(
      completionLogProbs(cfg, { params: model.params, adapter: null }, batch, rows, 1, true).logp,
    )
  );
  const { value, grads } = valueAndGrad((w: LoraWeights) => {
    const policy = { params: model.params, adapter: { weights: w, scaling: LORA_SCALING } };
    const { logp } = completionLogProbs(cfg, policy, batch, rows, 1, work.checkpointing);
    return grpoLoss({ logp, oldLogp: null, refLogp, advantages, mask }, {
      lossType: "grpo",
      delta: null,
      beta: 0.04,
      epsilonLow: 0.2,
      epsilonHigh: 0.2,
      maxCompletionLength: completion + 1,
    }).loss;
  })(weights);
  const { updates } = optimizer.update(grads, optimizer.init(weights), weights);
  const next = scope(() => applyUpdates(weights, updates));
  await toArray(next.layers[0].q!.A);
  const seconds = (now() - started) / 1000;
  const tokens = sequences * (prompt + completion);
  return {
    dtype: cfg.dtype,
    loadSeconds,
    weightBytes,
    decodeTokensPerSecond: decode,
    prefillSeconds: prefill,
    trainStep: {
      sequences,
      tokens,
      gradientCheckpointing: work.checkpointing,
      seconds,
      tokensPerSecond: tokens / seconds,
      peakTensorBytes: meter.peak(),
      loss: (await toArray(value))[0],
      updateNorm: (await toArray(scope(() => globalNorm(updates))))[0],
    },
  };
};
