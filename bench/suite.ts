/**
 * What a benchmark suite is: a named set of measurements taken on one backend. bench/run.ts
 * owns argument parsing, backend loading, the printed table and bench/results/latest.json;
 * a suite only measures.
 */
import type { Backend } from "../lib/autodiff/tensor.ts";

export interface Measurement {
  /** What was measured, e.g. "[256, 256] x [256, 256]". */
  readonly shape: string;
  readonly figure: number;
  /** e.g. "GFLOP/s", "tokens/s", "ms". */
  readonly unit: string;
  /** How many timed runs the figure summarizes. */
  readonly samples: number;
  /** Whether a bigger figure is better (rates) or worse (latencies); orients the ratio column. */
  readonly higherIsBetter: boolean;
}

export interface Suite {
  readonly name: string;
  readonly description: string;
  readonly run: (backend: Backend) => Promise<readonly Measurement[]>;
}

/** One row of bench/results/latest.json. */
export interface ResultRow {
  readonly suite: string;
  readonly backend: string;
  readonly runtime: string;
  readonly shape: string;
  readonly figure: number;
  readonly unit: string;
  readonly samples: number;
}
