/**
 * The metrics row logged after each optimizer update, keyed by TRL's names ("reward",
 * "rewards/<name>/mean", "kl", "completions/mean_length", ...), and the pure pieces it is
 * built from.
 */
import type { CompletionMask } from "../rl/mask.ts";
import type { AdvantageResult } from "../rl/advantages.ts";
import type { Ledger } from "./ledger.ts";

/** One logged training step; any metric may be missing or NaN in some rows. */
export type MetricsRow = Readonly<Record<string, number>>;

const meanOf = (xs: readonly number[]): number =>
  xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;

const stdOf = (xs: readonly number[]): number => {
  if (xs.length < 2) return 0;
  const m = meanOf(xs);
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
};

/** Mean and std of each reward function over the completions it scored (null: not scored). */
const rewardMetrics = (perFunction: Record<string, (number | null)[]>): Record<string, number> =>
  Object.fromEntries(
    Object.entries(perFunction).flatMap(([name, values]) => {
      const scored = values.filter((v): v is number => v !== null && !Number.isNaN(v));
      return [[`rewards/${name}/mean`, meanOf(scored)], [`rewards/${name}/std`, stdOf(scored)]];
    }),
  );

/** What a group of rollouts scored and how long the completions were. */
export const rolloutMetrics = (
  advantages: AdvantageResult,
  perFunction: Record<string, (number | null)[]>,
  mask: CompletionMask,
): Record<string, number> => {
  const lengths = Array.from(mask.lengths);
  return {
    ...advantages.metrics,
    ...rewardMetrics(perFunction),
    "completions/mean_length": meanOf(lengths),
    "completions/min_length": Math.min(...lengths),
    "completions/max_length": Math.max(...lengths),
    "completions/clipped_ratio": meanOf(mask.truncated.map((t) => (t ? 1 : 0))),
  };
};

/** Throughput and the run's running cost after an update. */
export const costMetrics = (
  ledger: Ledger,
  tokensProcessed: number,
  seconds: number,
): Record<string, number> => ({
  num_tokens: ledger.tokensTrained,
  tokens_per_second: tokensProcessed / Math.max(seconds, 1e-9),
  step_seconds: seconds,
  "cost/flops": ledger.flops,
  "cost/dollars": ledger.dollars,
  "cost/seconds": ledger.seconds,
});
