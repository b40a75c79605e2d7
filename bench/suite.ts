/**
 * What a benchmark suite is: a named set of measurements taken on one backend. bench/run.ts
 * owns argument parsing, backend loading, the printed table and bench/results/latest.json;
 * a suite only measures.
 */
import type { Backend } from "../lib/tensor/backends.ts";

/** The unit of figures that are a ratio of two others (e.g. a speed-up). */
export const RATIO_UNIT = "x";

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

/** Switches bench/run.ts passes through to every suite. */
export interface SuiteOptions {
  /** Also print where the time goes, kernel by kernel (suites that support it). */
  readonly profile: boolean;
}

export interface Suite {
  readonly name: string;
  readonly description: string;
  /** Measures host code only: run once, not once per backend, and recorded as backend "host". */
  readonly hostOnly?: boolean;
  readonly run: (backend: Backend, options: SuiteOptions) => Promise<readonly Measurement[]>;
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
