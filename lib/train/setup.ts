/**
 * Building a run from its config: the context a step reads (optimizer, rollouts, rewards), the
 * trainable weights and the first state.
 */
import { isTensor } from "../autodiff/grad.ts";
import { mul } from "../autodiff/ops.ts";
import type { LoraConfig } from "../io/peft.ts";
import { type DecoderParams, initLora } from "../model/decoder.ts";
import { loraScaling } from "../model/adapter.ts";
import type { Model } from "../model/load.ts";
import {
  adamw,
  chain,
  clipByGlobalNorm,
  cosineWithWarmup,
  type GradientTransformation,
  linearWithWarmup,
  type Schedule,
  warmupStepsFromRatio,
} from "../optim/mod.ts";
import { foldIn, type Key, prngKey } from "../random/prng.ts";
import { type CombinedRewardFn, combineRewards, type Example } from "../rewards/mod.ts";
import type { ChatMessage, Tokenizer } from "../tokenizer/mod.ts";
import { treeLeaves, treeMap } from "../tree.ts";
import type { TrainConfig } from "./config.ts";
import { emptyLedger } from "./ledger.ts";
import { type Trainable, trainableTree } from "./policy.ts";
import { inProcessRollout, type Rollout } from "./rollout.ts";
import type { TrainContext, TrainState } from "./step.ts";

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
const scheduleOf = (cfg: TrainConfig): Schedule => {
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

/** Clipping by global norm (when maxGradNorm is set), then AdamW on the config's schedule. */
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

/** What trainContext builds a run's context from. */
export interface TrainContextOptions {
  /** The run's config. */
  readonly config: TrainConfig;
  /** The model: its config, base weights and backend. */
  readonly model: Pick<Model, "config" | "params" | "backend">;
  /** The model's tokenizer. */
  readonly tokenizer: Tokenizer;
  /** The chat messages that pose an example (the built-in task's prompt, the paper's, ...). */
  readonly promptOf: (example: Example) => readonly ChatMessage[];
  /** The clock (milliseconds), injected so that lib/ reads none. */
  readonly now: () => number;
  /** Default: the config's rewards, combined. */
  readonly rewards?: CombinedRewardFn;
  /** Default: sampling in this process with the config's sampling settings. */
  readonly rollout?: Rollout;
}

/**
 * Everything a GRPO step reads besides its state, from a config, a model and a tokenizer: the
 * one place the CLI, the tests and the notebook wire a run.
 */
export const trainContext = (opts: TrainContextOptions): TrainContext => {
  const { config: cfg, model, tokenizer } = opts;
  // The model's own end-of-turn ids stop sampling too (a chat model's template may differ).
  const stopTokens = [...new Set([tokenizer.eosTokenId, ...model.config.eosTokenIds])];
  return {
    config: cfg,
    modelConfig: model.config,
    base: model.params,
    backend: model.backend,
    tokenizer,
    promptOf: opts.promptOf,
    rewards: opts.rewards ?? combineRewards(cfg.rewards),
    rollout: opts.rollout ?? inProcessRollout(model.config, {
      temperature: cfg.temperature,
      topP: cfg.topP,
      topK: cfg.topK,
      maxNewTokens: cfg.maxCompletionLength,
      stopTokens,
      padToken: tokenizer.padTokenId,
    }),
    optimizer: optimizerOf(cfg),
    stopTokens,
    padToken: tokenizer.padTokenId,
    totalParams: countParams(model.params),
    now: opts.now,
  };
};

/** Fresh adapters (PEFT init), or a private copy of every base weight for full fine-tuning. */
export const initialTrainable = (ctx: TrainContext, key: Key): Trainable => {
  const cfg = ctx.config;
  if (!cfg.lora) {
    // Copied on the device (x · 1 is exact), so WebGPU needs no synchronous read-back.
    const copy = treeMap(ctx.base, isTensor, (t) => mul(t, 1)) as DecoderParams;
    return { kind: "full", params: copy };
  }
  const peft = peftConfigOf(cfg, null)!;
  return {
    kind: "lora",
    weights: initLora(ctx.backend, ctx.modelConfig, key, cfg.lora.r, cfg.lora.targets),
    scaling: loraScaling(peft),
    dropout: cfg.lora.dropout,
  };
};

/** Step 0 of a run: fresh trainable weights from the config's seed, and the optimizer's init. */
export const initialState = (ctx: TrainContext): TrainState => {
  const key = prngKey(ctx.config.seed);
  const trainable = initialTrainable(ctx, foldIn(key, 0x1a));
  return {
    step: 0,
    trainable,
    optState: ctx.optimizer.init(trainableTree(trainable)),
    key,
    cursor: 0,
    ledger: emptyLedger,
    badSteps: 0,
    skippedSteps: 0,
  };
};

/** Number of scalars in every tensor of a tree. */
export const countParams = (tree: unknown): number =>
  treeLeaves(tree, isTensor).reduce((n, t) => n + t.size, 0);
