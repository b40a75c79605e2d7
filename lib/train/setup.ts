/** Building a run from its config: the trainable weights, the optimizer and the first state. */
import { isTensor } from "../autodiff/grad.ts";
import { tensor, toArraySync } from "../autodiff/tensor.ts";
import type { Backend } from "../tensor/backends.ts";
import type { LoraConfig } from "../io/peft.ts";
import { type DecoderParams, initLora, type ModelConfig } from "../model/decoder.ts";
import { loraScaling } from "../model/adapter.ts";
import {
  adamw,
  chain,
  clipByGlobalNorm,
  cosineWithWarmup,
  type GradientTransformation,
  linearWithWarmup,
  warmupStepsFromRatio,
} from "../optim/mod.ts";
import { foldIn, type Key, prngKey } from "../random/prng.ts";
import { treeLeaves, treeMap } from "../tree.ts";
import type { TrainConfig } from "./config.ts";
import { emptyLedger } from "./ledger.ts";
import type { Trainable } from "./policy.ts";
import { trainableTree } from "./policy.ts";
import type { TrainState } from "./step.ts";

/** The PEFT adapter config a run's LoRA settings amount to. */
export const peftConfigOf = (cfg: TrainConfig, baseModel: string | null): LoraConfig | null =>
  cfg.lora && {
    r: cfg.lora.r,
    loraAlpha: cfg.lora.alpha,
    loraDropout: cfg.lora.dropout,
    targetModules: cfg.lora.targets,
    useRslora: cfg.lora.rslora,
    taskType: "CAUSAL_LM",
    baseModelNameOrPath: baseModel,
  };

/** The learning-rate schedule the config names, over its horizon. */
export const scheduleOf = (cfg: TrainConfig): (update: number) => number => {
  const totalSteps = cfg.scheduleSteps ?? cfg.maxSteps;
  const warmupSteps = warmupStepsFromRatio(cfg.warmupRatio, totalSteps);
  const peak = cfg.learningRate;
  switch (cfg.lrScheduler) {
    case "constant":
      return () => peak;
    case "linear":
      return linearWithWarmup({ peak, warmupSteps, totalSteps });
    case "cosine":
      return cosineWithWarmup({ peak, warmupSteps, totalSteps });
    case "cosine_with_min_lr":
      return cosineWithWarmup({ peak, warmupSteps, totalSteps, minRatio: cfg.minLrRatio });
  }
};

export const optimizerOf = (cfg: TrainConfig): GradientTransformation<unknown> => {
  const adam = adamw({
    lr: scheduleOf(cfg),
    b1: cfg.adamBeta1,
    b2: cfg.adamBeta2,
    eps: cfg.adamEpsilon,
    weightDecay: cfg.weightDecay,
  });
  return (cfg.maxGradNorm
    ? chain(clipByGlobalNorm(cfg.maxGradNorm), adam)
    : adam) as GradientTransformation<unknown>;
};

/** Fresh adapters (PEFT init), or a private copy of every base weight for full fine-tuning. */
export const initialTrainable = (
  backend: Backend,
  cfg: TrainConfig,
  modelConfig: ModelConfig,
  base: DecoderParams,
  key: Key,
): Trainable => {
  if (!cfg.lora) {
    const copy = treeMap(
      base,
      isTensor,
      (t) => tensor(backend, toArraySync(t).slice(), t.shape),
    ) as DecoderParams;
    return { kind: "full", params: copy };
  }
  const peft = peftConfigOf(cfg, null)!;
  return {
    kind: "lora",
    weights: initLora(backend, modelConfig, key, cfg.lora.r, cfg.lora.targets),
    scaling: loraScaling(peft),
    dropout: cfg.lora.dropout,
  };
};

export const initialState = (
  backend: Backend,
  cfg: TrainConfig,
  modelConfig: ModelConfig,
  base: DecoderParams,
  optimizer: GradientTransformation<unknown>,
): TrainState => {
  const key = prngKey(cfg.seed);
  const trainable = initialTrainable(backend, cfg, modelConfig, base, foldIn(key, 0x1a));
  return {
    step: 0,
    trainable,
    optState: optimizer.init(trainableTree(trainable)),
    key,
    cursor: 0,
    ledger: emptyLedger,
    badSteps: 0,
    skippedSteps: 0,
  };
};

export const countParams = (tree: unknown): number =>
  treeLeaves(tree, isTensor).reduce((n, t) => n + t.size, 0);
