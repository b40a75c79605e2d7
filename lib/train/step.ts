/**
 * One GRPO step: sample G completions per prompt with the current policy, score them, turn
 * rewards into group advantages, and update the trainable weights on the GRPO loss (μ times
 * over the same generations), gradient accumulation included.
 */
import { isTensor, valueAndGradWithAux } from "../autodiff/grad.ts";
import { add, mul, stopGradient, sum } from "../autodiff/ops.ts";
import { scope, type Tensor, tensor, toArray } from "../autodiff/tensor.ts";
import { encodePrompt } from "../data/prompt.ts";
import type { DecoderParams, ModelConfig } from "../model/decoder.ts";
import {
  applyUpdates,
  disposeReplaced,
  globalNorm,
  type GradientTransformation,
  gradNormOf,
  learningRateOf,
} from "../optim/mod.ts";
import { foldIn, type Key, split } from "../random/prng.ts";
import type { CombinedRewardFn, CombinedRewards, Example } from "../rewards/mod.ts";
import { type AdvantageResult, computeAdvantages } from "../rl/advantages.ts";
import {
  concatArrays,
  engineLogProbRows,
  importanceConfigOf,
  importanceWeights,
  mismatchMetrics,
} from "../rl/importance.ts";
import { grpoLoss } from "../rl/loss.ts";
import { type CompletionMask, completionMask, maskTruncated } from "../rl/mask.ts";
import { collectNow } from "../io/free_buffer.ts";
import type { Backend } from "../tensor/backends.ts";
import type { ChatMessage, Tokenizer } from "../tokenizer/mod.ts";
import { treeMap, treeZip } from "../tree.ts";
import { completionLogProbs } from "./completion_logprobs.ts";
import type { TrainConfig } from "./config.ts";
import { chargeStep, type Ledger, type StepCost } from "./ledger.ts";
import { costMetrics, type MetricsRow, rolloutMetrics } from "./metrics.ts";
import { type Policy, policyOf, type Trainable, trainableTree, withTree } from "./policy.ts";
import type { Rollout, RolloutResult } from "./rollout.ts";
import { packBatch, type PackedBatch } from "./sequences.ts";

/** Everything a GRPO step reads besides its state (build it with trainContext). */
export interface TrainContext {
  /** The run's config. */
  readonly config: TrainConfig;
  /** The model's architecture. */
  readonly modelConfig: ModelConfig;
  /** The frozen base weights (also the reference policy). */
  readonly base: DecoderParams;
  /** Where the tensors live. */
  readonly backend: Backend;
  /** Encodes prompts (chat template) and decodes completions for the rewards. */
  readonly tokenizer: Tokenizer;
  /** The chat messages that pose an example. */
  readonly promptOf: (example: Example) => readonly ChatMessage[];
  /** Scores a batch of completions (combineRewards). */
  readonly rewards: CombinedRewardFn;
  /** Samples the completions (in process, or an inference engine). */
  readonly rollout: Rollout;
  /** The update rule (clipping, then AdamW on the schedule). */
  readonly optimizer: GradientTransformation<unknown>;
  /** Ids that end a completion. */
  readonly stopTokens: readonly number[];
  /** Fills ragged rows. */
  readonly padToken: number;
  /** Parameters counted by the FLOP ledger (the whole model). */
  readonly totalParams: number;
  /** The clock, injected so that lib/ reads none. */
  readonly now: () => number;
}

/**
 * Where a run is: trainable weights, optimizer state, step, key, data cursor and costs (checkpoints
 * save exactly this).
 */
export interface TrainState {
  /** Optimizer updates done so far. */
  readonly step: number;
  /** The LoRA adapters (or, for full training, every weight). */
  readonly trainable: Trainable;
  /** The optimizer's state (Adam moments, counts). */
  readonly optState: unknown;
  /** The run's root key; step s draws from foldIn(key, s). */
  readonly key: Key;
  /** Examples consumed so far (position in the shuffled data stream). */
  readonly cursor: number;
  /** FLOPs, tokens, seconds and dollars spent so far. */
  readonly ledger: Ledger;
  /** Consecutive updates skipped for a non-finite loss or gradient. */
  readonly badSteps: number;
  /** Updates skipped over the whole run. */
  readonly skippedSteps: number;
}

/** One step's generations, scored and packed: everything the updates read. */
export interface RolloutBatch {
  /** What the engine returned: completion ids (grouped by prompt), its log-probs, finish reasons. */
  readonly rollout: RolloutResult;
  /** Every completion's rewards, total and per function. */
  readonly scored: CombinedRewards;
  /** Group-normalized advantages of the completions. */
  readonly advantages: AdvantageResult;
  /** Prompt + completion rows for the policy forward. */
  readonly packed: PackedBatch;
  /** The loss mask (truncated completions dropped when configured). */
  readonly mask: CompletionMask;
  /** Every completion's own mask, for the length and clipping metrics. */
  readonly rawMask: CompletionMask;
  /** The rows of each gradient-accumulation micro-batch: whole groups. */
  readonly microBatches: readonly (readonly number[])[];
  /** Tokens in the loss over the whole batch (dapo's normalizer). */
  readonly activeTokens: number;
}

/** Per-micro-batch log-probs under policies that do not change during the step (no gradient). */
export interface FixedLogProbs {
  /** The reference policy, the base without adapters (or the original weights); when β > 0. */
  readonly reference: readonly Tensor[] | null;
  /** The policy that sampled, the ratio's denominator; when μ > 1. */
  readonly old: readonly Tensor[] | null;
}

/**
 * One GRPO step: sample numGenerations completions per example, score them, compute group
 * advantages, and apply numIterations updates; returns the new state and one metrics row per
 * update.
 */
export const grpoStep = async (
  ctx: TrainContext,
  state: TrainState,
  examples: readonly Example[],
): Promise<{ state: TrainState; rows: MetricsRow[] }> => {
  const { config: cfg } = ctx;
  const started = ctx.now();
  const [sampleKey, dropoutKey] = split(foldIn(state.key, state.step));
  const prompts = encodePrompts(ctx, examples);
  const rollout = await sampleGroups(ctx, state, prompts, sampleKey);
  const rolloutSeconds = (ctx.now() - started) / 1000; // sampling alone: engine vs in-process
  let phase = phaseDone(ctx, started);
  const scored = score(ctx, examples, rollout);
  const advantages = computeAdvantages(scored.total, cfg.numGenerations, cfg.scaleRewards);
  const batch = pack(ctx, prompts, rollout, scored, advantages);
  const fixed = fixedPolicyLogProbs(ctx, state, batch);
  phase = phaseDone(ctx, phase);
  try {
    const rows: MetricsRow[] = [];
    let next = state;
    for (let iteration = 0; iteration < cfg.numIterations; iteration++) {
      const since = iteration === 0 ? started : ctx.now();
      const key = foldIn(dropoutKey, iteration);
      const gradients = await accumulateGradients(ctx, next, batch, fixed, key);
      phase = phaseDone(ctx, phase);
      const updated = await applyUpdate(ctx, next, gradients);
      const cost = stepCost(batch, fixed, iteration, (ctx.now() - since) / 1000);
      next = { ...updated.state, ledger: charge(ctx, next.ledger, cost) };
      const row = metricsRow(next, updated.metrics, batch, cost);
      rows.push(iteration === 0 ? { ...row, rollout_seconds: rolloutSeconds } : row);
    }
    return { state: { ...next, cursor: state.cursor + examples.length }, rows };
  } finally {
    disposeFixed(fixed);
  }
};

/** A phase at least this long (ms) makes a collection's cost (tens of ms) negligible. */
const COLLECT_AFTER_MS = 1000;

/**
 * Ends a phase of the step begun at `since`: after a long one, what it dropped is collected
 * before the next phase adds its own (collectNow; Bun only). Returns when the next one begins.
 */
const phaseDone = (ctx: TrainContext, since: number): number => {
  if (ctx.now() - since >= COLLECT_AFTER_MS) collectNow();
  return ctx.now();
};

/** Each example's chat prompt as ids, cut on the left to maxPromptLength. */
export const encodePrompts = (ctx: TrainContext, examples: readonly Example[]): number[][] =>
  examples.map((example, i) =>
    encodePrompt(ctx.tokenizer, ctx.promptOf(example), {
      vocabSize: ctx.modelConfig.vocabSize,
      maxLength: ctx.config.maxPromptLength,
      where: `grpoStep: prompt ${i} of the step`,
    })
  );

/** G completions per prompt from the current policy (no dropout). */
const sampleGroups = (
  ctx: TrainContext,
  state: TrainState,
  prompts: readonly (readonly number[])[],
  key: Key,
): Promise<RolloutResult> =>
  ctx.rollout({
    prompts,
    numGenerations: ctx.config.numGenerations,
    policy: policyOf(ctx.base, state.trainable),
    key,
  });

/** Every completion's rewards against its own example. */
const score = (
  ctx: TrainContext,
  examples: readonly Example[],
  rollout: RolloutResult,
): CombinedRewards =>
  ctx.rewards(
    rollout.tokens.map((ids) => ctx.tokenizer.decode(ids)),
    repeatEach(examples, ctx.config.numGenerations),
    {
      completionTokenLengths: rollout.tokens.map((t) => t.length),
      prompts: repeatEach(examples.map(ctx.promptOf), ctx.config.numGenerations),
    },
  );

/** Prompt + completion rows, their loss mask, and the micro-batches of whole groups. */
const pack = (
  ctx: TrainContext,
  prompts: readonly (readonly number[])[],
  rollout: RolloutResult,
  scored: CombinedRewards,
  advantages: AdvantageResult,
): RolloutBatch => {
  const cfg = ctx.config;
  const packed = packBatch(repeatEach(prompts, cfg.numGenerations), rollout.tokens, ctx.padToken);
  const rawMask = completionMask(packed.targets, ctx.stopTokens);
  const mask = cfg.maskTruncatedCompletions ? maskTruncated(rawMask) : rawMask;
  const perMicro = packed.ids.length / cfg.gradientAccumulationSteps;
  const microBatches = Array.from(
    { length: cfg.gradientAccumulationSteps },
    (_, m) => Array.from({ length: perMicro }, (_, i) => m * perMicro + i),
  );
  const activeTokens = mask.mask.reduce((s, x) => s + x, 0);
  return { rollout, scored, advantages, packed, mask, rawMask, microBatches, activeTokens };
};

/** The reference policy's log-probs (β > 0) and the sampling policy's (μ > 1). */
const fixedPolicyLogProbs = (
  ctx: TrainContext,
  state: TrainState,
  batch: RolloutBatch,
): FixedLogProbs => ({
  reference: ctx.config.beta > 0
    ? logProbsPerMicroBatch(ctx, { params: ctx.base, adapter: null }, batch)
    : null,
  old: ctx.config.numIterations > 1
    ? logProbsPerMicroBatch(ctx, policyOf(ctx.base, state.trainable), batch)
    : null,
});

const logProbsPerMicroBatch = (ctx: TrainContext, policy: Policy, batch: RolloutBatch): Tensor[] =>
  batch.microBatches.map((rows) =>
    scope(() => stopGradient(policyLogProbs(ctx, policy, batch, rows).logp))
  );

const policyLogProbs = (
  ctx: TrainContext,
  policy: Policy,
  batch: RolloutBatch,
  rows: readonly number[],
) =>
  completionLogProbs(
    ctx.modelConfig,
    policy,
    batch.packed,
    rows,
    ctx.config.temperatureInLogprobs ? ctx.config.temperature : 1,
    ctx.config.gradientCheckpointing,
  );

const disposeFixed = ({ reference, old }: FixedLogProbs): void => {
  reference?.forEach((t) => t.dispose());
  old?.forEach((t) => t.dispose());
};

/** The summed gradients of all micro-batches, and the host sums of their loss metrics. */
interface Gradients {
  readonly grads: unknown;
  readonly sums: Readonly<Record<string, number>>;
  readonly sequences: number;
  /** Engine vs learner log-prob mismatch (lib/rl/importance.ts), when corrected. */
  readonly offPolicy: Readonly<Record<string, number>>;
}

/** One micro-batch's GRPO loss as a function of the trainable tree, with its metrics. */
const microBatchLoss = (
  ctx: TrainContext,
  state: TrainState,
  batch: RolloutBatch,
  fixed: FixedLogProbs,
  m: number,
  dropoutKey: Key,
) => {
  const rows = batch.microBatches[m];
  const width = batch.packed.completionWidth;
  return (params: unknown) => {
    const policy = policyOf(ctx.base, state.trainable, params, dropoutKey);
    const { logp, entropy } = policyLogProbs(ctx, policy, batch, rows);
    const mask = tensor(ctx.backend, rowsOf(batch.mask.mask, rows, width), [rows.length, width]);
    const learner = fixed.old?.[m] ?? logp;
    const correction = offPolicyWeights(ctx, batch, learner, rows, mask);
    const { loss, metrics } = grpoLoss({
      logp,
      oldLogp: fixed.old?.[m] ?? null,
      refLogp: fixed.reference?.[m] ?? null,
      advantages: tensor(
        ctx.backend,
        Float32Array.from(rows, (r) => batch.advantages.advantages[r]),
        [
          rows.length,
        ],
      ),
      mask,
      numItemsInBatch: batch.activeTokens,
      accumulationSteps: ctx.config.gradientAccumulationSteps,
      importanceWeights: correction,
    }, ctx.config);
    const entropySum = sum(mul(stopGradient(entropy), mask));
    const importance = correction && { weights: correction, learner: stopGradient(learner) };
    return { loss, aux: { metrics, entropySum, tokens: sum(mask), importance } };
  };
};

/** TRL's importance-sampling weights when an inference engine sampled; null otherwise. */
const offPolicyWeights = (
  ctx: TrainContext,
  batch: RolloutBatch,
  learner: Tensor,
  rows: readonly number[],
  mask: Tensor,
): Tensor | null => {
  const cfg = importanceConfigOf(ctx.config);
  if (!cfg || !batch.rollout.engine) return null;
  const width = batch.packed.completionWidth;
  const engine = engineLogProbRows(batch.rollout.logprobs, rows, width);
  return importanceWeights(learner, tensor(ctx.backend, engine, [rows.length, width]), mask, cfg);
};

const accumulateGradients = async (
  ctx: TrainContext,
  state: TrainState,
  batch: RolloutBatch,
  fixed: FixedLogProbs,
  dropoutKey: Key,
): Promise<Gradients> => {
  const tree = trainableTree(state.trainable);
  const sums: Record<string, number> = {};
  const addHost = async (name: string, t: Tensor | null, scale = 1) => {
    if (t) sums[name] = (sums[name] ?? 0) + (await toArray(t))[0] * scale;
  };
  let grads: unknown = null;
  const mismatch: { learner: Float32Array; engine: Float32Array; weights: Float32Array }[] = [];
  for (const [m, rows] of batch.microBatches.entries()) {
    const lossOf = microBatchLoss(ctx, state, batch, fixed, m, foldIn(dropoutKey, m));
    const out = valueAndGradWithAux(lossOf)(tree);
    await addHost("loss", out.value);
    await addHost("entropySum", out.aux.entropySum);
    await addHost("tokens", out.aux.tokens);
    for (const [name, t] of Object.entries(out.aux.metrics)) await addHost(name, t, rows.length);
    if (out.aux.importance) {
      mismatch.push({
        learner: (await toArray(out.aux.importance.learner)) as Float32Array,
        engine: engineLogProbRows(batch.rollout.logprobs, rows, batch.packed.completionWidth),
        weights: (await toArray(out.aux.importance.weights)) as Float32Array,
      });
    }
    const previous = grads;
    grads = previous === null
      ? out.grads
      : scope(() => treeZip([previous, out.grads], isTensor, ([a, b]) => add(a, b)));
    if (previous !== null) {
      disposeTree(previous);
      disposeTree(out.grads);
    }
    disposeTree(out.aux);
    out.value.dispose();
  }
  const offPolicy = mismatch.length === 0 ? {} : mismatchMetrics(
    concatArrays(mismatch.map((x) => x.learner)),
    concatArrays(mismatch.map((x) => x.engine)),
    concatArrays(
      batch.microBatches.map((rows) => rowsOf(batch.mask.mask, rows, batch.packed.completionWidth)),
    ),
    concatArrays(mismatch.map((x) => x.weights)),
  );
  return { grads, sums, sequences: batch.packed.ids.length, offPolicy };
};

/** One optimizer update, skipped (state kept, step counted) when the loss or gradient is not finite. */
const applyUpdate = async (
  ctx: TrainContext,
  state: TrainState,
  { grads, sums, sequences, offPolicy }: Gradients,
): Promise<{ state: TrainState; metrics: Record<string, number> }> => {
  const tree = trainableTree(state.trainable);
  const { updates, state: optState } = ctx.optimizer.update(grads, state.optState, tree);
  const learningRate = learningRateOf(optState);
  const gradNorm = await normOf(optState, grads);
  const finite = Number.isFinite(gradNorm) && Number.isFinite(sums.loss);
  let next: TrainState;
  if (finite) {
    const newTree = scope(() => applyUpdates(tree, updates));
    disposeReplaced(state.optState, optState);
    disposeTree(tree);
    next = {
      ...state,
      step: state.step + 1,
      trainable: withTree(state.trainable, newTree),
      optState,
      badSteps: 0,
    };
  } else {
    disposeReplaced(optState, state.optState);
    next = {
      ...state,
      step: state.step + 1,
      badSteps: state.badSteps + 1,
      skippedSteps: state.skippedSteps + 1,
    };
  }
  disposeTree(updates);
  disposeTree(grads);
  return {
    state: next,
    metrics: { ...updateMetrics(sums, gradNorm, learningRate, sequences), ...offPolicy },
  };
};

/** The global gradient norm: the clip transform's, or computed here when the optimizer has none. */
const normOf = async (optState: unknown, grads: unknown): Promise<number> => {
  const clipped = gradNormOf(optState);
  if (clipped) return (await toArray(clipped))[0];
  const norm = scope(() => globalNorm(grads));
  const value = (await toArray(norm))[0];
  norm.dispose();
  return value;
};

const LOSS_METRICS = [
  "kl",
  "clip_ratio/low_mean",
  "clip_ratio/high_mean",
  "clip_ratio/region_mean",
];

const updateMetrics = (
  sums: Readonly<Record<string, number>>,
  gradNorm: number,
  learningRate: number,
  sequences: number,
): Record<string, number> => ({
  loss: sums.loss,
  grad_norm: gradNorm,
  learning_rate: learningRate,
  entropy: sums.entropySum / Math.max(1, sums.tokens),
  ...Object.fromEntries(
    LOSS_METRICS.filter((name) => name in sums).map((name) => [name, sums[name] / sequences]),
  ),
});

/** Tokens generated and scored count once per step, on its first update. */
const stepCost = (
  batch: RolloutBatch,
  fixed: FixedLogProbs,
  iteration: number,
  seconds: number,
): StepCost => {
  const { packed } = batch;
  const trained = packed.ids.length * (packed.promptWidth + packed.completionWidth - 1);
  const fixedForwards = (fixed.reference ? 1 : 0) + (fixed.old ? 1 : 0);
  return {
    tokensGenerated: iteration === 0 ? batch.rollout.tokens.reduce((s, t) => s + t.length, 0) : 0,
    tokensTrained: trained,
    tokensScored: iteration === 0 ? trained * fixedForwards : 0,
    seconds,
  };
};

const charge = (ctx: TrainContext, ledger: Ledger, cost: StepCost): Ledger =>
  chargeStep(ledger, cost, ctx.totalParams, ctx.config.costPerHour);

const metricsRow = (
  state: TrainState,
  update: Record<string, number>,
  batch: RolloutBatch,
  cost: StepCost,
): MetricsRow => ({
  step: state.step,
  ...update,
  ...rolloutMetrics(batch.advantages, batch.scored.perFunction, batch.rawMask),
  ...costMetrics(state.ledger, cost.tokensGenerated + cost.tokensTrained, cost.seconds),
  skipped_steps: state.skippedSteps,
});

const repeatEach = <T>(items: readonly T[], times: number): T[] =>
  items.flatMap((item) => Array.from({ length: times }, () => item));

const rowsOf = (mask: Float32Array, rows: readonly number[], width: number): Float32Array => {
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, i) => out.set(mask.subarray(r * width, (r + 1) * width), i * width));
  return out;
};

const disposeTree = (tree: unknown): void => void treeMap(tree, isTensor, (t) => t.dispose());
