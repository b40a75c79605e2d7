/**
 * One GRPO step: sample G completions per prompt with the current policy, score them,
 * turn rewards into group advantages, and update the trainable weights on the GRPO loss
 * (μ times over the same generations), gradient accumulation included.
 */
import { isTensor, valueAndGradWithAux } from "../autodiff/grad.ts";
import { add, mul, stopGradient, sum } from "../autodiff/ops.ts";
import { scope, type Tensor, tensor, toArray } from "../autodiff/tensor.ts";
import type { Backend } from "../tensor/backends.ts";
import type { DecoderParams, ModelConfig } from "../model/decoder.ts";
import { applyUpdates, globalNorm, type GradientTransformation } from "../optim/mod.ts";
import { disposeReplaced } from "../optim/transform.ts";
import { foldIn, type Key, split } from "../random/prng.ts";
import type { CombinedRewardFn, Example } from "../rewards/mod.ts";
import { computeAdvantages } from "../rl/advantages.ts";
import { grpoLoss } from "../rl/loss.ts";
import { completionMask, maskTruncated } from "../rl/mask.ts";
import type { Tokenizer } from "../tokenizer/mod.ts";
import { treeMap, treeZip } from "../tree.ts";
import type { TrainConfig } from "./config.ts";
import { chargeStep, type Ledger } from "./ledger.ts";
import { completionLogProbs } from "./completion_logprobs.ts";
import { type Policy, policyOf, type Trainable, trainableTree, withTree } from "./policy.ts";
import type { Rollout } from "./rollout.ts";
import { packBatch, type PackedBatch, truncateLeft } from "./sequences.ts";
import type { ChatMessage } from "../tokenizer/hf.ts";
import type { MetricsRow } from "../report/types.ts";

export interface TrainContext {
  readonly config: TrainConfig;
  readonly modelConfig: ModelConfig;
  /** The frozen base weights (also the reference policy). */
  readonly base: DecoderParams;
  readonly backend: Backend;
  readonly tokenizer: Tokenizer;
  readonly promptOf: (example: Example) => readonly ChatMessage[];
  readonly rewards: CombinedRewardFn;
  readonly rollout: Rollout;
  readonly optimizer: GradientTransformation<unknown>;
  readonly learningRate: (update: number) => number;
  readonly stopTokens: readonly number[];
  readonly padToken: number;
  /** Parameters counted by the FLOP ledger (the whole model). */
  readonly totalParams: number;
  /** The clock, injected so that lib/ reads none. */
  readonly now: () => number;
}

export interface TrainState {
  /** Optimizer updates done so far. */
  readonly step: number;
  readonly trainable: Trainable;
  readonly optState: unknown;
  /** The run's root key; step s draws from foldIn(key, s). */
  readonly key: Key;
  /** Examples consumed so far (position in the shuffled data stream). */
  readonly cursor: number;
  readonly ledger: Ledger;
  /** Consecutive updates skipped for a non-finite loss or gradient. */
  readonly badSteps: number;
  readonly skippedSteps: number;
}

export type { MetricsRow };

const meanOf = (
  xs: readonly number[],
): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const stdOf = (xs: readonly number[]): number => {
  if (xs.length < 2) return 0;
  const m = meanOf(xs);
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
};

const rowsOf = (mask: Float32Array, rows: readonly number[], width: number): Float32Array => {
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, i) => out.set(mask.subarray(r * width, (r + 1) * width), i * width));
  return out;
};

/** Log-probs of every completion under a fixed policy, no gradient (reference or old policy). */
const scoreAll = (
  ctx: TrainContext,
  policy: Policy,
  batch: PackedBatch,
  microBatches: readonly (readonly number[])[],
): Tensor[] =>
  microBatches.map((rows) =>
    scope(() => stopGradient(policyLogProbs(ctx, policy, batch, rows).logp))
  );

const policyLogProbs = (
  ctx: TrainContext,
  policy: Policy,
  batch: PackedBatch,
  rows: readonly number[],
) =>
  completionLogProbs(
    ctx.modelConfig,
    policy,
    batch,
    rows,
    ctx.config.temperatureInLogprobs ? ctx.config.temperature : 1,
  );

export const grpoStep = async (
  ctx: TrainContext,
  state: TrainState,
  examples: readonly Example[],
): Promise<{ state: TrainState; rows: MetricsRow[] }> => {
  const { config: cfg, tokenizer } = ctx;
  const started = ctx.now();
  const [genKey, dropoutKey] = split(foldIn(state.key, state.step));
  const g = cfg.numGenerations;

  // 1. Rollouts with the current policy (no dropout).
  const promptIds = examples.map((ex) =>
    truncateLeft(
      tokenizer.encode(
        tokenizer.applyChatTemplate(ctx.promptOf(ex), { addGenerationPrompt: true }),
      ),
      cfg.maxPromptLength,
    )
  );
  const current = policyOf(ctx.base, state.trainable);
  const rollout = await ctx.rollout({
    prompts: promptIds,
    numGenerations: g,
    policy: current,
    key: genKey,
  });
  const texts = rollout.tokens.map((ids) => tokenizer.decode(ids));
  const groupExamples = examples.flatMap((ex) => Array.from({ length: g }, () => ex));
  const prompts = promptIds.flatMap((p) => Array.from({ length: g }, () => p));

  // 2. Rewards and advantages.
  const scored = ctx.rewards(texts, groupExamples, {
    completionTokenLengths: rollout.tokens.map((t) => t.length),
  });
  const adv = computeAdvantages(scored.total, g, cfg.scaleRewards);

  // 3. Pack, mask, and split into micro-batches of whole groups.
  const batch = packBatch(prompts, rollout.tokens, ctx.padToken);
  const rawMask = completionMask(batch.targets, ctx.stopTokens);
  const mask = cfg.maskTruncatedCompletions ? maskTruncated(rawMask) : rawMask;
  const c = batch.completionWidth;
  const n = prompts.length;
  const perMicro = n / cfg.gradientAccumulationSteps;
  const microBatches = Array.from(
    { length: cfg.gradientAccumulationSteps },
    (_, m) => Array.from({ length: perMicro }, (_, i) => m * perMicro + i),
  );
  const activeTokens = mask.mask.reduce((s, x) => s + x, 0);

  // The reference policy: the base without adapters (LoRA) or the original weights (full).
  const reference = cfg.beta > 0
    ? scoreAll(ctx, { params: ctx.base, adapter: null }, batch, microBatches)
    : null;
  const oldLogp = cfg.numIterations > 1 ? scoreAll(ctx, current, batch, microBatches) : null;

  const rows: MetricsRow[] = [];
  let next = state;
  try {
    for (let iteration = 0; iteration < cfg.numIterations; iteration++) {
      const updateStarted = ctx.now();
      const result = await update(
        ctx,
        next,
        batch,
        mask.mask,
        adv.advantages,
        microBatches,
        reference,
        oldLogp,
        activeTokens,
        foldIn(dropoutKey, iteration),
      );
      const seconds = (ctx.now() - (iteration === 0 ? started : updateStarted)) / 1000;
      const tokensGenerated = iteration === 0
        ? rollout.tokens.reduce((s, t) => s + t.length, 0)
        : 0;
      const trained = n * (batch.promptWidth + c - 1);
      const ledger = chargeStep(
        next.ledger,
        {
          tokensGenerated,
          tokensTrained: trained,
          tokensScored: iteration === 0 ? trained * ((reference ? 1 : 0) + (oldLogp ? 1 : 0)) : 0,
          seconds,
        },
        ctx.totalParams,
        cfg.costPerHour,
      );
      next = { ...result.state, ledger };
      const lengths = Array.from(mask.lengths);
      rows.push({
        step: next.step,
        ...result.metrics,
        reward: adv.metrics.reward,
        reward_std: adv.metrics.reward_std,
        frac_reward_zero_std: adv.metrics.frac_reward_zero_std,
        ...rewardMetrics(scored.perFunction),
        "completions/mean_length": meanOf(lengths),
        "completions/min_length": Math.min(...lengths),
        "completions/max_length": Math.max(...lengths),
        "completions/clipped_ratio": meanOf(rawMask.truncated.map((t) => (t ? 1 : 0))),
        num_tokens: ledger.tokensTrained,
        tokens_per_second: (tokensGenerated + trained) / Math.max(seconds, 1e-9),
        step_seconds: seconds,
        "cost/flops": ledger.flops,
        "cost/dollars": ledger.dollars,
        "cost/seconds": ledger.seconds,
        skipped_steps: next.skippedSteps,
      });
    }
  } finally {
    reference?.forEach((t) => t.dispose());
    oldLogp?.forEach((t) => t.dispose());
  }
  return { state: { ...next, cursor: state.cursor + examples.length }, rows };
};

const rewardMetrics = (perFunction: Record<string, (number | null)[]>): Record<string, number> =>
  Object.fromEntries(
    Object.entries(perFunction).flatMap(([name, values]) => {
      const scored = values.filter((v): v is number => v !== null && !Number.isNaN(v));
      return [[`rewards/${name}/mean`, meanOf(scored)], [`rewards/${name}/std`, stdOf(scored)]];
    }),
  );

/** Gradient accumulation over micro-batches, then one optimizer update (skipped when non-finite). */
const update = async (
  ctx: TrainContext,
  state: TrainState,
  batch: PackedBatch,
  mask: Float32Array,
  advantages: Float32Array,
  microBatches: readonly (readonly number[])[],
  reference: readonly Tensor[] | null,
  oldLogp: readonly Tensor[] | null,
  activeTokens: number,
  dropoutKey: Key,
): Promise<{ state: TrainState; metrics: Record<string, number> }> => {
  const cfg = ctx.config;
  const c = batch.completionWidth;
  const tree = trainableTree(state.trainable);
  let grads: unknown = null;
  const sums: Record<string, number> = {};
  const addMetric = (k: string, v: number) => (sums[k] = (sums[k] ?? 0) + v);
  for (const [m, rows] of microBatches.entries()) {
    const maskT = tensor(ctx.backend, rowsOf(mask, rows, c), [rows.length, c]);
    const lossOf = (params: unknown) => {
      const policy = policyOf(ctx.base, state.trainable, params, foldIn(dropoutKey, m));
      const { logp, entropy } = policyLogProbs(ctx, policy, batch, rows);
      const { loss, metrics } = grpoLoss({
        logp,
        oldLogp: oldLogp?.[m] ?? null,
        refLogp: reference?.[m] ?? null,
        advantages: tensor(ctx.backend, Float32Array.from(rows, (r) => advantages[r]), [
          rows.length,
        ]),
        mask: maskT,
        numItemsInBatch: activeTokens,
        accumulationSteps: cfg.gradientAccumulationSteps,
      }, { ...cfg, maxCompletionLength: cfg.maxCompletionLength });
      const tokens = sum(maskT);
      return { loss, aux: { metrics, entropySum: sum(mul(stopGradient(entropy), maskT)), tokens } };
    };
    const out = valueAndGradWithAux(lossOf)(tree);
    const host = async (t: Tensor | null) => (t ? (await toArray(t))[0] : NaN);
    addMetric("loss", await host(out.value));
    addMetric("entropySum", await host(out.aux.entropySum));
    addMetric("tokens", await host(out.aux.tokens));
    for (const [k, v] of Object.entries(out.aux.metrics)) {
      if (v) addMetric(k, (await host(v)) * rows.length);
    }
    const previous = grads;
    grads = previous === null
      ? out.grads
      : scope(() => treeZip([previous, out.grads], isTensor, ([a, b]) => add(a, b)));
    if (previous !== null) {
      disposeTree(previous);
      disposeTree(out.grads);
    }
    treeMap(out.aux, isTensor, (t) => t.dispose());
    out.value.dispose();
    maskT.dispose();
  }
  const norm = scope(() => globalNorm(grads));
  const gradNorm = (await toArray(norm))[0];
  norm.dispose();
  const lr = ctx.learningRate((state.optState as { count?: number })?.count ?? state.step);
  const finite = Number.isFinite(gradNorm) && Number.isFinite(sums.loss);
  let next: TrainState;
  if (finite) {
    const { updates, state: optState } = ctx.optimizer.update(grads, state.optState, tree);
    const newTree = scope(() => applyUpdates(tree, updates));
    disposeTree(updates);
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
    next = {
      ...state,
      step: state.step + 1,
      badSteps: state.badSteps + 1,
      skippedSteps: state.skippedSteps + 1,
    };
  }
  disposeTree(grads);
  const seqs = microBatches.flat().length;
  const metrics: Record<string, number> = {
    loss: sums.loss,
    grad_norm: gradNorm,
    learning_rate: lr,
    entropy: sums.entropySum / Math.max(1, sums.tokens),
  };
  for (const k of ["kl", "clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean"]) {
    if (k in sums) metrics[k] = sums[k] / seqs;
  }
  return { state: next, metrics };
};

const disposeTree = (tree: unknown): void => void treeMap(tree, isTensor, (t) => t.dispose());
