import type { MetricsRow } from "../train/metrics.ts";

/** One completion shown in the report, with its problem and verdict. */
export interface SampleCompletion {
  /** The problem as posed. */
  readonly problem: string;
  /** The reference answer. */
  readonly gold: string;
  /** What the model wrote. */
  readonly completion: string;
  /** Whether its answer matched the gold one. */
  readonly correct: boolean;
}

/** An evaluation as the report shows it: pass@1 and a few sample completions. */
export interface EvalSnapshot {
  /** "before" or "after" training. */
  readonly label: string;
  /** Mean pass@1 over the problems. */
  readonly passAt1: number;
  /** Problems evaluated. */
  readonly problems: number;
  /** Completions sampled per problem. */
  readonly samplesPerProblem: number;
  /** A few completions to read. */
  readonly samples: readonly SampleCompletion[];
}

/** Everything the HTML report is drawn from. */
export interface ReportInput {
  /** The page title (the run's name). */
  readonly title: string;
  /** Shown as a key/value table; nested objects are flattened to "cost.dollars". */
  readonly summary: Readonly<Record<string, unknown>>;
  /** One row per optimizer step, plotted over steps. */
  readonly metrics: readonly MetricsRow[];
  /** What each metric can take (e.g. a reward's bounds): its ±std band is clipped to it. */
  readonly ranges?: Readonly<Record<string, readonly [lo: number, hi: number]>>;
  /** The evaluation before training, if any. */
  readonly before: EvalSnapshot | null;
  /** The evaluation after training, if any. */
  readonly after: EvalSnapshot | null;
}

/** A point of a line chart: x and y. */
export type Point = readonly [x: number, y: number];

/** One line of a line chart. */
export interface Series {
  /** The legend label. */
  readonly name: string;
  /** The line's points, in x order. */
  readonly points: readonly Point[];
  /** Optional shaded band, e.g. mean ± std. */
  readonly band?: readonly (readonly [x: number, lo: number, hi: number])[];
  /** Drawn thin and pale under the others (the raw values beneath a smoothed line). */
  readonly faint?: boolean;
}

/** A line chart: its title, axis labels, series and size. */
export interface LineChartOptions {
  /** The chart's heading. */
  readonly title: string;
  /** The x axis label. */
  readonly xLabel: string;
  /** The y axis label. */
  readonly yLabel?: string;
  /** The lines drawn. */
  readonly series: readonly Series[];
  /** SVG width in pixels. */
  readonly width?: number;
  /** SVG height in pixels. */
  readonly height?: number;
}

/** One bar of a bar chart. */
export interface Bar {
  /** The bar's caption. */
  readonly label: string;
  /** The bar's height. */
  readonly value: number;
}

/** A bar chart: its title, bars, value format and size. */
export interface BarChartOptions {
  /** The chart's heading. */
  readonly title: string;
  /** The bars, left to right. */
  readonly bars: readonly Bar[];
  /** Top of the value axis; defaults to a nice value above the largest bar. */
  readonly yMax?: number;
  /** How values are printed on the bars. */
  readonly format?: (value: number) => string;
  /** SVG width in pixels. */
  readonly width?: number;
  /** SVG height in pixels. */
  readonly height?: number;
}
