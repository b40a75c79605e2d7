/**
 * Truncated importance sampling for rollouts sampled by an inference engine (TRL's
 * `vllm_importance_sampling_correction`; Yao et al., "Your Efficient RL Framework Secretly
 * Brings You Off-Policy RL Training"). The engine's log-probs differ from the learner's (other
 * kernels, precision, sampler), so the per-token policy loss is weighted by
 *   token modes:    r[t] = exp(lp_learner[t] − lp_engine[t])
 *   sequence modes: r    = exp(Σ_t mask[t] · (lp_learner[t] − lp_engine[t]))
 * then truncated (`*_truncate`: clamp to [clipMin, clipMax]) or masked (`*_mask`: r → 0 outside
 * it). TRL's defaults: sequence_mask, clipMax 3, no lower bound.
 */
import {
  clip,
  exp,
  greater,
  less,
  maximum,
  minimum,
  mul,
  stopGradient,
  sub,
  sum,
} from "../autodiff/ops.ts";
import type { Tensor } from "../autodiff/tensor.ts";

export const IMPORTANCE_SAMPLING_MODES = [
  "token_truncate",
  "token_mask",
  "sequence_truncate",
  "sequence_mask",
] as const;
export type ImportanceSamplingMode = (typeof IMPORTANCE_SAMPLING_MODES)[number];

export interface ImportanceSamplingConfig {
  readonly mode: ImportanceSamplingMode;
  /** Lower bound; null: none (truncation never raises a ratio, masking keeps small ones). */
  readonly clipMin: number | null;
  readonly clipMax: number;
}

export const TRL_IMPORTANCE_SAMPLING: ImportanceSamplingConfig = Object.freeze({
  mode: "sequence_mask",
  clipMin: null,
  clipMax: 3,
});

/** Log-ratios are kept in [−20, 20] before exp (as verl does), so no weight is 0·∞ = NaN. */
const LOG_RATIO_BOUND = 20;

/**
 * The weights (constants: no gradient flows through them) that multiply the per-token policy
 * loss: [B, T] for token modes, [B, 1] for sequence modes (broadcast over tokens).
 * `learnerLogp` is the learner's log-prob of each sampled token under the weights that produced
 * the rollout; `engineLogp` the engine's; `mask` 1 on completion tokens.
 */
export const importanceWeights = (
  learnerLogp: Tensor,
  engineLogp: Tensor,
  mask: Tensor,
  cfg: ImportanceSamplingConfig,
): Tensor => {
  const diff = mul(sub(stopGradient(learnerLogp), engineLogp), mask);
  const sequence = cfg.mode.startsWith("sequence");
  const logRatio = sequence ? sum(diff, -1, true) : diff;
  const ratio = exp(clip(logRatio, -LOG_RATIO_BOUND, LOG_RATIO_BOUND));
  if (cfg.mode.endsWith("truncate")) {
    const capped = minimum(ratio, cfg.clipMax);
    return cfg.clipMin === null ? capped : maximum(capped, cfg.clipMin);
  }
  const above = greater(ratio, cfg.clipMax);
  const below = cfg.clipMin === null ? null : less(ratio, cfg.clipMin);
  const keep = sub(1, below ? maximum(above, below) : above);
  return mul(ratio, keep);
};

/** Host-side summary of the mismatch, under TRL's metric names. */
export interface MismatchMetrics {
  readonly "sampling/sampling_logp_difference/mean": number;
  readonly "sampling/sampling_logp_difference/max": number;
  readonly "sampling/importance_sampling_ratio/min": number;
  readonly "sampling/importance_sampling_ratio/mean": number;
  readonly "sampling/importance_sampling_ratio/max": number;
}

/**
 * |lp_learner − lp_engine| over completion tokens (mean, max) and the applied weights (min, mean,
 * max over completion tokens; a sequence weight counts once per token). Arrays are [B·T]
 * row-major; `weights` is [B·T] or [B] (sequence modes).
 */
export const mismatchMetrics = (
  learner: Float32Array,
  engine: Float32Array,
  mask: Float32Array,
  weights: Float32Array,
): MismatchMetrics => {
  const width = weights.length === mask.length ? 1 : mask.length / weights.length;
  let n = 0, diffSum = 0, diffMax = 0, wSum = 0, wMin = Infinity, wMax = -Infinity;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    const d = Math.abs(learner[i] - engine[i]);
    const w = weights[width === 1 ? i : Math.floor(i / width)];
    n += 1;
    diffSum += d;
    diffMax = Math.max(diffMax, d);
    wSum += w;
    wMin = Math.min(wMin, w);
    wMax = Math.max(wMax, w);
  }
  return {
    "sampling/sampling_logp_difference/mean": n ? diffSum / n : 0,
    "sampling/sampling_logp_difference/max": diffMax,
    "sampling/importance_sampling_ratio/min": n ? wMin : 1,
    "sampling/importance_sampling_ratio/mean": n ? wSum / n : 1,
    "sampling/importance_sampling_ratio/max": n ? wMax : 1,
  };
};

/** The training config's knobs (lib/train/config.ts): "off" or a mode, and the bounds. */
export interface ImportanceSamplingKnobs {
  readonly importanceSampling: "off" | ImportanceSamplingMode;
  readonly importanceSamplingClipMin: number | null;
  readonly importanceSamplingClipMax: number;
}

export const importanceConfigOf = (k: ImportanceSamplingKnobs): ImportanceSamplingConfig | null =>
  k.importanceSampling === "off" ? null : {
    mode: k.importanceSampling,
    clipMin: k.importanceSamplingClipMin,
    clipMax: k.importanceSamplingClipMax,
  };

/** The engine's per-token log-probs of completions `rows`, right-padded with 0 to `width`. */
export const engineLogProbRows = (
  logprobs: readonly (readonly number[])[],
  rows: readonly number[],
  width: number,
): Float32Array => {
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, i) => out.set(logprobs[r].slice(0, width), i * width));
  return out;
};

/** Concatenates host arrays (micro-batches) for one mismatchMetrics call over the whole batch. */
export const concatArrays = (parts: readonly Float32Array[]): Float32Array => {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
};
