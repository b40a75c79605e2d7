/**
 * The cost ledger: what a run has spent, in FLOPs, tokens, seconds and dollars. FLOPs use the
 * usual dense-transformer estimate (2 per parameter per token forward, ×3 with a backward).
 */

export interface Ledger {
  readonly flops: number;
  readonly tokensGenerated: number;
  readonly tokensTrained: number;
  readonly seconds: number;
  readonly dollars: number;
}

export const emptyLedger: Ledger = Object.freeze({
  flops: 0,
  tokensGenerated: 0,
  tokensTrained: 0,
  seconds: 0,
  dollars: 0,
});

export interface StepCost {
  readonly tokensGenerated: number;
  /** Tokens run through the policy forward and backward. */
  readonly tokensTrained: number;
  /** Tokens run through forwards only (reference and old-policy log-probs). */
  readonly tokensScored: number;
  readonly seconds: number;
}

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
