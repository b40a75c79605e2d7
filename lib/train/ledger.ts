/**
 * The cost ledger: what a run has spent, in FLOPs, tokens, seconds and dollars. FLOPs use the
 * usual dense-transformer estimate (2 per parameter per token forward, ×3 with a backward).
 */

export interface Ledger {
  /** Floating-point operations, by the dense-transformer estimate. */
  readonly flops: number;
  /** Completion tokens sampled. */
  readonly tokensGenerated: number;
  /** Tokens run through a forward and backward. */
  readonly tokensTrained: number;
  /** Wall time of the updates. */
  readonly seconds: number;
  /** seconds priced at the config's costPerHour. */
  readonly dollars: number;
}

/** A run that has spent nothing yet. */
export const emptyLedger: Ledger = Object.freeze({
  flops: 0,
  tokensGenerated: 0,
  tokensTrained: 0,
  seconds: 0,
  dollars: 0,
});

/** What one optimizer update used. */
export interface StepCost {
  /** Completion tokens sampled for this update (0 for the 2nd..μth update of a batch). */
  readonly tokensGenerated: number;
  /** Tokens run through the policy forward and backward. */
  readonly tokensTrained: number;
  /** Tokens run through forwards only (reference and old-policy log-probs). */
  readonly tokensScored: number;
  /** Wall time of the update. */
  readonly seconds: number;
}

/**
 * The ledger after one more update: FLOPs from the token counts and parameter count, dollars from
 * the seconds.
 */
export const chargeStep = (
  ledger: Ledger,
  cost: StepCost,
  params: number,
  costPerHour: number,
): Ledger => ({
  flops: ledger.flops +
    2 * params * (cost.tokensGenerated + cost.tokensScored + 3 * cost.tokensTrained),
  tokensGenerated: ledger.tokensGenerated + cost.tokensGenerated,
  tokensTrained: ledger.tokensTrained + cost.tokensTrained,
  seconds: ledger.seconds + cost.seconds,
  dollars: ledger.dollars + (cost.seconds / 3600) * costPerHour,
});
