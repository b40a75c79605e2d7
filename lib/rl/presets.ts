/**
 * The GRPO algorithm's knobs as one immutable value, with the two presets the library ships:
 * `tina` reproduces the paper's run (TRL 0.15.2 semantics), `trl` is TRL 1.x's defaults.
 */
import type { ScaleRewards } from "./advantages.ts";
import { checkLossConfig, type GrpoLossConfig } from "./loss.ts";

export interface GrpoAlgorithmConfig {
  readonly loss: GrpoLossConfig;
  readonly scaleRewards: ScaleRewards;
  /** Divide logits by the sampling temperature before taking log-probs (TRL ≥ 0.16). */
  readonly logprobsAtSamplingTemperature: boolean;
  /** Drop completions that never emitted EOS from the loss (DAPO). */
  readonly maskTruncatedCompletions: boolean;
}

/** Tina: per-sequence mean ("grpo"), β 0.04 with k3 KL, ε 0.2, completions ≤ 3584 tokens. */
export const tinaPreset: GrpoAlgorithmConfig = {
  loss: {
    lossType: "grpo",
    beta: 0.04,
    epsilonLow: 0.2,
    epsilonHigh: 0.2,
    delta: null,
    maxCompletionLength: 3584,
  },
  scaleRewards: "group",
  logprobsAtSamplingTemperature: false,
  maskTruncatedCompletions: false,
};

/** TRL 1.x GRPOConfig defaults: "dapo" aggregation, no KL term, ε 0.2, 256 completion tokens. */
export const trlPreset: GrpoAlgorithmConfig = {
  loss: {
    lossType: "dapo",
    beta: 0,
    epsilonLow: 0.2,
    epsilonHigh: 0.2,
    delta: null,
    maxCompletionLength: 256,
  },
  scaleRewards: "group",
  logprobsAtSamplingTemperature: true,
  maskTruncatedCompletions: false,
};

/** A preset with some loss fields replaced, validated (e.g. DAPO's `{ epsilonHigh: 0.28 }`). */
export const withLoss = (
  base: GrpoAlgorithmConfig,
  loss: Partial<GrpoLossConfig>,
): GrpoAlgorithmConfig => ({
  ...base,
  loss: checkLossConfig({ ...base.loss, ...loss }),
});
