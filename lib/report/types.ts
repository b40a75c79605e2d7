import type { MetricsRow } from "../train/metrics.ts";

export interface SampleCompletion {
  readonly problem: string;
  readonly gold: string;
  readonly completion: string;
  readonly correct: boolean;
}

export interface EvalSnapshot {
  readonly label: string;
  readonly passAt1: number;
  readonly problems: number;
  readonly samplesPerProblem: number;
  readonly samples: readonly SampleCompletion[];
}

export interface ReportInput {
  readonly title: string;
  /** Shown as a key/value table; nested objects are flattened to "cost.dollars". */
  readonly summary: Readonly<Record<string, unknown>>;
  readonly metrics: readonly MetricsRow[];
  /** What each metric can take (e.g. a reward's bounds): its ±std band is clipped to it. */
  readonly ranges?: Readonly<Record<string, readonly [lo: number, hi: number]>>;
  readonly before: EvalSnapshot | null;
  readonly after: EvalSnapshot | null;
}

export type Point = readonly [x: number, y: number];

export interface Series {
  readonly name: string;
  readonly points: readonly Point[];
  /** Optional shaded band, e.g. mean ± std. */
  readonly band?: readonly (readonly [x: number, lo: number, hi: number])[];
  /** Drawn thin and pale under the others (the raw values beneath a smoothed line). */
  readonly faint?: boolean;
}

export interface LineChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel?: string;
  readonly series: readonly Series[];
  readonly width?: number;
  readonly height?: number;
}

export interface Bar {
  readonly label: string;
  readonly value: number;
}

export interface BarChartOptions {
  readonly title: string;
  readonly bars: readonly Bar[];
  /** Top of the value axis; defaults to a nice value above the largest bar. */
  readonly yMax?: number;
  readonly format?: (value: number) => string;
  readonly width?: number;
  readonly height?: number;
}
