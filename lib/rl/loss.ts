/**
 * The GRPO loss family, term for term as TRL's GRPOTrainer computes it:
 *   ratio w = exp(logp − old), per token  −min(c·A, clamp(w, 1−ε_low, 1+ε_high)·A) + β·kl,
 *   c = w (or min(w, δ), two-sided clipping), kl = exp(ref − logp) − (ref − logp) − 1,
 * aggregated by `lossType`. With no old log-probs (μ = 1) old = sg(logp): the ratio is 1 but
 * the gradient still flows through logp.
 */
import {
  add,
  clip,
  div,
  exp,
  expandDims,
  greater,
  less,
  maximum,
  mean,
  minimum,
  mul,
  neg,
  stopGradient,
  sub,
  sum,
} from "../autodiff/ops.ts";
import type { Tensor } from "../autodiff/tensor.ts";
import { fmt, sameShape } from "../tensor/shape.ts";

/**
 * grpo: per-sequence masked mean, then mean over sequences. bnpo: token sum / tokens in this
 * micro-batch. dr_grpo: token sum / (B · maxCompletionLength). dapo: token sum / tokens in
 * the whole generation batch.
 */
/** The loss aggregations, for codecs and checks alike. */
export const LOSS_TYPES = ["grpo", "bnpo", "dr_grpo", "dapo"] as const;
/**
 * How the per-token loss is averaged: per sequence (grpo), over the batch's tokens (bnpo), by a
 * constant (dr_grpo), over all tokens of the accumulated batch (dapo).
 */
export type LossType = (typeof LOSS_TYPES)[number];

/**
 * The limits the loss relies on, for config codecs to refuse a bad value at decode time: the
 * lower clip 1 − epsilonLow stays positive, and delta caps ratios above 1.
 */
export const LOSS_BOUNDS: Readonly<{ epsilonLowBelow: number; deltaAbove: number }> = Object
  .freeze({ epsilonLowBelow: 1, deltaAbove: 1 });

/** The loss's settings (a subset of TrainConfig). */
export interface GrpoLossConfig {
  /** The averaging (TRL's loss_type). */
  readonly lossType: LossType;
  /** KL coefficient; 0 skips the reference policy entirely. */
  readonly beta: number;
  /** Lower clipping range: ratios below 1 − ε are clipped. */
  readonly epsilonLow: number;
  /** Upper clipping range: ratios above 1 + ε are clipped. */
  readonly epsilonHigh: number;
  /** Upper cap on the unclipped ratio (INTELLECT-2 two-sided clipping), or null. */
  readonly delta: number | null;
  /** dr_grpo's constant normalizer. */
  readonly maxCompletionLength: number;
}

/** Per-token log-probs, advantages and mask of a micro-batch. */
export interface GrpoLossInputs {
  /** Current policy's per-token log-probs [B, T]: the differentiable input. */
  readonly logp: Tensor;
  /** Log-probs at generation time [B, T] (μ > 1), or null for μ = 1. */
  readonly oldLogp: Tensor | null;
  /** Reference policy's log-probs [B, T]; needed only when beta ≠ 0. */
  readonly refLogp: Tensor | null;
  /** One advantage per completion [B]. */
  readonly advantages: Tensor;
  /** Completion mask [B, T] (0/1). */
  readonly mask: Tensor;
  /**
   * dapo's normalizer: active tokens in the whole generation batch (all accumulation
   * micro-batches). Defaults to this micro-batch's mask sum.
   */
  readonly numItemsInBatch?: number;
  /** grpo, bnpo and dr_grpo divide by it, as TRL does under gradient accumulation. Default 1. */
  readonly accumulationSteps?: number;
  /**
   * Off-policy correction for rollouts from an inference engine (lib/rl/importance.ts):
   * constant weights [B, T] or [B, 1] on the policy term (not the KL term), as TRL applies them.
   */
  readonly importanceWeights?: Tensor | null;
}

/** Scalar tensors under the metric names TRL logs (kl is null when beta = 0). */
export interface GrpoLossMetrics {
  /** Mean k3 KL to the reference (null when β = 0). */
  readonly kl: Tensor | null;
  /** Share of tokens clipped at 1 − ε with a negative advantage. */
  readonly "clip_ratio/low_mean": Tensor;
  /** Share of tokens clipped at 1 + ε with a positive advantage. */
  readonly "clip_ratio/high_mean": Tensor;
  /** Share of tokens clipped either way. */
  readonly "clip_ratio/region_mean": Tensor;
}

/** The loss to differentiate and its metrics. */
export interface GrpoLoss {
  /** The scalar loss. */
  readonly loss: Tensor;
  /** KL and clipping shares, TRL's names. */
  readonly metrics: GrpoLossMetrics;
}

/** Throws unless the settings are in range (ε, δ, β, lengths); returns them. */
export const checkLossConfig = (c: GrpoLossConfig): GrpoLossConfig => {
  const fail = (field: string, why: string) => {
    throw new Error(`GRPO loss config: ${field} ${why}`);
  };
  if (!LOSS_TYPES.includes(c.lossType)) {
    fail("lossType", `"${c.lossType}" is not ${LOSS_TYPES.join("|")}`);
  }
  if (!(c.beta >= 0)) fail("beta", `must be >= 0, got ${c.beta}`);
  if (!(c.epsilonLow >= 0 && c.epsilonLow < LOSS_BOUNDS.epsilonLowBelow)) {
    fail("epsilonLow", `must lie in [0, ${LOSS_BOUNDS.epsilonLowBelow}), got ${c.epsilonLow}`);
  }
  if (!(c.epsilonHigh >= 0)) fail("epsilonHigh", `must be >= 0, got ${c.epsilonHigh}`);
  if (c.delta !== null && !(c.delta > LOSS_BOUNDS.deltaAbove)) {
    fail("delta", `must be > ${LOSS_BOUNDS.deltaAbove} or null, got ${c.delta}`);
  }
  if (!(Number.isInteger(c.maxCompletionLength) && c.maxCompletionLength > 0)) {
    fail("maxCompletionLength", `must be a positive integer, got ${c.maxCompletionLength}`);
  }
  return c;
};

const checkInputs = (x: GrpoLossInputs, beta: number): void => {
  const shape = x.logp.shape;
  const named: [string, Tensor | null][] = [["oldLogp", x.oldLogp], ["refLogp", x.refLogp], [
    "mask",
    x.mask,
  ]];
  if (shape.length !== 2) throw new Error(`grpoLoss: logp must be [B, T], got ${fmt(shape)}`);
  named.forEach(([name, t]) => {
    if (t && !sameShape(t.shape, shape)) {
      throw new Error(`grpoLoss: ${name} is ${fmt(t.shape)}, logp is ${fmt(shape)}`);
    }
  });
  if (!sameShape(x.advantages.shape, [shape[0]])) {
    throw new Error(`grpoLoss: advantages must be [${shape[0]}], got ${fmt(x.advantages.shape)}`);
  }
  if (beta !== 0 && !x.refLogp) {
    throw new Error("grpoLoss: beta ≠ 0 needs refLogp (the reference policy's log-probs)");
  }
};

/** Σ(x · mask) / max(Σ mask, 1): TRL's masked_batch_mean, e.g. for the `entropy` metric. */
export const maskedBatchMean = (x: Tensor, mask: Tensor): Tensor =>
  div(sum(mul(x, mask)), maximum(sum(mask), 1));

/** k3 estimator of KL(π ‖ π_ref) per token: exp(ref − logp) − (ref − logp) − 1. */
const klPerToken = (logp: Tensor, refLogp: Tensor): Tensor => {
  const d = sub(refLogp, logp);
  return sub(sub(exp(d), d), 1);
};

const aggregate = (perToken: Tensor, x: GrpoLossInputs, c: GrpoLossConfig): Tensor => {
  const masked = mul(perToken, x.mask);
  const steps = x.accumulationSteps ?? 1;
  switch (c.lossType) {
    case "grpo":
      return div(mean(div(sum(masked, -1), maximum(sum(x.mask, -1), 1))), steps);
    case "bnpo":
      return div(div(sum(masked), maximum(sum(x.mask), 1)), steps);
    case "dr_grpo":
      return div(sum(masked), perToken.shape[0] * c.maxCompletionLength * steps);
    case "dapo":
      return div(sum(masked), x.numItemsInBatch ?? maximum(sum(x.mask), 1));
  }
};

/** The loss (a scalar to differentiate with respect to whatever produced `logp`) and metrics. */
export const grpoLoss = (inputs: GrpoLossInputs, config: GrpoLossConfig): GrpoLoss => {
  const { beta, epsilonLow, epsilonHigh, delta } = checkLossConfig(config);
  checkInputs(inputs, beta);
  const { logp, mask } = inputs;
  const advantages = expandDims(inputs.advantages, 1);
  const ratio = exp(sub(logp, inputs.oldLogp ?? stopGradient(logp)));
  const unclipped = delta === null ? ratio : minimum(ratio, delta);
  const clipped = clip(ratio, 1 - epsilonLow, 1 + epsilonHigh);
  const policyTerm = neg(minimum(mul(unclipped, advantages), mul(clipped, advantages)));
  const corrected = inputs.importanceWeights
    ? mul(policyTerm, inputs.importanceWeights)
    : policyTerm;
  const kl = beta === 0 ? null : klPerToken(logp, inputs.refLogp as Tensor);
  const loss = aggregate(kl ? add(corrected, mul(kl, beta)) : corrected, inputs, config);

  // TRL counts a token as clipped where the clip is active for its advantage's sign.
  const w = stopGradient(unclipped);
  const low = mul(less(w, 1 - epsilonLow), less(advantages, 0));
  const high = mul(greater(w, 1 + epsilonHigh), greater(advantages, 0));
  return {
    loss,
    metrics: {
      kl: kl && maskedBatchMean(stopGradient(kl), mask),
      "clip_ratio/low_mean": maskedBatchMean(low, mask),
      "clip_ratio/high_mean": maskedBatchMean(high, mask),
      "clip_ratio/region_mean": maskedBatchMean(maximum(low, high), mask),
    },
  };
};
