/**
 * The GRPO training step's throughput (policy tokens/s): reference log-probs with the adapter
 * off, the policy forward with LoRA on every projection, the GRPO loss (k3 KL, clipped ratio),
 * backward to the adapter, clipping and AdamW. With `--profile`, one more step runs on a
 * kernel-timing backend and the ten slowest kernels are printed. Slow backends train on a
 * quarter of the batch (a full step takes them over a minute).
 */
import { valueAndGradWithAux } from "../lib/autodiff/grad.ts";
import { mul, stopGradient, sum } from "../lib/autodiff/ops.ts";
import { scope, type Tensor, tensor, toArray } from "../lib/autodiff/tensor.ts";
import type { Backend } from "../lib/tensor/backends.ts";
import { initLora, type LoraWeights } from "../lib/model/decoder.ts";
import { adamw, applyUpdates, chain, clipByGlobalNorm, disposeReplaced } from "../lib/optim/mod.ts";
import { normal } from "../lib/random/prng.ts";
import { grpoLoss, type GrpoLossConfig } from "../lib/rl/mod.ts";
import { completionLogProbs } from "../lib/train/completion_logprobs.ts";
import { packBatch } from "../lib/train/sequences.ts";
import { budgetFor, isSlow, timeTask } from "./measure.ts";
import { profileOnce } from "./profile.ts";
import type { Measurement, Suite } from "./suite.ts";
import {
  benchKey,
  benchParams,
  disposeAll,
  loraScaling,
  modelConfig,
  modelLabel,
  randomIds,
  shape,
} from "./workload.ts";

/** A step function over its own model, batch and optimizer state, and how to free them. */
export const trainingRun = (backend: Backend, batchSize: number) => {
  const params = benchParams(backend);
  // Completion one token longer than the rest, so the forward (which drops the last
  // position) sees exactly `sequence` tokens per row.
  const completionWidth = shape.sequence - shape.promptLength + 1;
  const batch = packBatch(
    randomIds(benchKey(3), batchSize, shape.promptLength),
    randomIds(benchKey(4), batchSize, completionWidth),
    0,
  );
  const rows = batch.ids.map((_, i) => i);
  const mask = tensor(backend, new Float32Array(batchSize * completionWidth).fill(1), [
    batchSize,
    completionWidth,
  ]);
  const advantages = tensor(backend, normal(benchKey(5), batchSize), [batchSize]);
  const lossConfig: GrpoLossConfig = {
    lossType: "grpo", // Tina's per-sequence mean
    delta: null,
    beta: shape.grpo.beta,
    epsilonLow: shape.grpo.epsilon,
    epsilonHigh: shape.grpo.epsilon,
    maxCompletionLength: completionWidth,
  };
  const optimizer = chain(
    clipByGlobalNorm(shape.grpo.maxGradNorm),
    adamw({ lr: shape.grpo.learningRate }),
  );
  let weights = initLora(backend, modelConfig, benchKey(6), shape.lora.rank);
  let optState = optimizer.init(weights);

  const lossOf = (refLogp: Tensor) => (w: LoraWeights) => {
    const policy = { params, adapter: { weights: w, scaling: loraScaling } };
    const { logp, entropy } = completionLogProbs(modelConfig, policy, batch, rows);
    const { loss } = grpoLoss({ logp, oldLogp: null, refLogp, advantages, mask }, lossConfig);
    return { loss, aux: sum(mul(stopGradient(entropy), mask)) };
  };

  const step = async (): Promise<void> => {
    const refLogp = scope(() =>
      stopGradient(completionLogProbs(modelConfig, { params, adapter: null }, batch, rows).logp)
    );
    const out = valueAndGradWithAux(lossOf(refLogp))(weights);
    const { updates, state } = optimizer.update(out.grads, optState, weights);
    const next = scope(() => applyUpdates(weights, updates));
    disposeAll([refLogp, out, updates]);
    disposeReplaced(optState, state);
    disposeAll(weights);
    weights = next;
    optState = state;
    // Reading an updated weight back waits for the whole step on asynchronous backends.
    await toArray(weights.layers[0].q!.A);
  };
  const dispose = () => disposeAll([params, mask, advantages, weights, optState]);
  return { step, dispose };
};

export const trainStepSuite: Suite = {
  name: "train-step",
  description: "GRPO step (ref fwd + LoRA fwd/bwd + AdamW) policy tokens/s",
  run: async (backend, options) => {
    const slow = await isSlow(backend);
    const batchSize = slow ? shape.batch / 4 : shape.batch;
    const run = trainingRun(backend, batchSize);
    const { seconds, runs } = await timeTask("train-step", run.step, budgetFor(slow, 5000));
    run.dispose();
    if (options.profile) {
      await profileOnce(backend, "one training step", (profiled) => {
        const { step, dispose } = trainingRun(profiled, batchSize);
        return { run: step, dispose };
      });
    }
    const measurement: Measurement = {
      shape: `${modelLabel}, LoRA r${shape.lora.rank} ×7, ${batchSize}×${shape.sequence}`,
      figure: batchSize * shape.sequence / seconds,
      unit: "tokens/s",
      samples: runs,
      higherIsBetter: true,
    };
    return [measurement];
  },
};
