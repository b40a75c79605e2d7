import { barChart, lineChart } from "./charts.ts";
import { escapeHtml } from "./escape.ts";
import { formatQuantity } from "./format.ts";
import { smoothingWeight, smoothPoints } from "./smooth.ts";
import type { MetricsRow } from "../train/metrics.ts";
import type { EvalSnapshot, ReportInput, SampleCompletion, Series } from "./types.ts";

/** One line chart drawn from a metric key, with an optional ±std band from a second key. */
export interface MetricChart {
  /** The chart's heading. */
  readonly title: string;
  /** The metric plotted (a metrics row key). */
  readonly key: string;
  /** The metric whose values draw a ±std band around it. */
  readonly stdKey?: string;
  /** The y axis label. */
  readonly yLabel?: string;
  /** Draw a smoothed line over the raw values (default true; a schedule is not noisy). */
  readonly smooth?: boolean;
}

const FIXED_CHARTS: readonly MetricChart[] = [
  { title: "KL divergence to base policy", key: "kl", yLabel: "nats" },
  { title: "Token entropy", key: "entropy", yLabel: "nats" },
  { title: "Completion length (mean)", key: "completions/mean_length", yLabel: "tokens" },
  { title: "Learning rate", key: "learning_rate", smooth: false },
  { title: "Loss", key: "loss" },
  { title: "Gradient norm (before clipping)", key: "grad_norm" },
];

const SAMPLE_LIMIT = 4;

const hasData = (metrics: readonly MetricsRow[], key: string): boolean =>
  metrics.some((row) => Number.isFinite(row[key]));

/** The charts worth drawing: total reward, one per reward function, then the training signals. */
export const metricCharts = (metrics: readonly MetricsRow[]): readonly MetricChart[] => {
  const keys = [...new Set(metrics.flatMap((row) => Object.keys(row)))];
  const perFunction = keys.flatMap((key) => {
    const name = /^rewards\/(.+)\/mean$/.exec(key)?.[1];
    return name === undefined
      ? []
      : [{ title: `Reward: ${name} (±1 std)`, key, stdKey: `rewards/${name}/std` }];
  });
  return [
    { title: "Total reward (±1 std)", key: "reward", stdKey: "reward_std" },
    ...perFunction,
    ...FIXED_CHARTS,
  ].filter((chart) => hasData(metrics, chart.key));
};

type Range = readonly [lo: number, hi: number];

const clip = (v: number, range: Range | undefined): number =>
  range === undefined ? v : Math.min(range[1], Math.max(range[0], v));

/**
 * A metric's raw values (faint), then its smoothed line with the ±std band, clipped to the
 * metric's range where one is known (an accuracy band never dips below 0).
 */
const chartSeries = (
  metrics: readonly MetricsRow[],
  chart: MetricChart,
  range: Range | undefined,
): readonly Series[] => {
  const x = (row: MetricsRow, i: number) => row.step ?? i;
  const value = (row: MetricsRow, key: string) => row[key] ?? NaN;
  const band = chart.stdKey !== undefined && hasData(metrics, chart.stdKey)
    ? metrics.map((row, i) => {
      const [mean, std] = [value(row, chart.key), value(row, chart.stdKey ?? "")];
      return [x(row, i), clip(mean - std, range), clip(mean + std, range)] as const;
    })
    : undefined;
  const raw: Series = {
    name: `${chart.key} (raw)`,
    points: metrics.map((row, i) => [x(row, i), value(row, chart.key)]),
    faint: true,
  };
  const weight = chart.smooth === false ? 0 : smoothingWeight(metrics.length);
  return weight === 0 ? [{ ...raw, name: chart.key, faint: false, band }] : [
    raw,
    { name: chart.key, points: smoothPoints(raw.points, weight), band },
  ];
};

/** Flattens nested objects into dotted keys: { cost: { dollars: 1 } } → ["cost.dollars", 1]. */
const flatten = (value: unknown, prefix: string): (readonly [string, unknown])[] =>
  value !== null && typeof value === "object" && !Array.isArray(value)
    ? Object.entries(value).flatMap(([k, v]) => flatten(v, prefix === "" ? k : `${prefix}.${k}`))
    : [[prefix, value]];

const formatValue = (key: string, value: unknown): string =>
  typeof value === "number"
    ? formatQuantity(key, value)
    : typeof value === "string"
    ? value
    : value === null || value === undefined
    ? "—"
    : JSON.stringify(value);

const summaryTable = (summary: ReportInput["summary"]): string => {
  const rows = flatten(summary, "").map(([k, v]) =>
    `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(formatValue(k, v))}</td></tr>`
  );
  return rows.length === 0 ? "" : `<h2>Summary</h2><table class="summary">${rows.join("")}</table>`;
};

const percent = (v: number): string => `${(v * 100).toFixed(1)}%`;

const passAtOneSection = (snapshots: readonly EvalSnapshot[]): string =>
  snapshots.length === 0 ? "" : `<h2>pass@1</h2><div class="pass">` +
    barChart({
      title: "pass@1",
      bars: snapshots.map((s) => ({ label: s.label, value: s.passAt1 })),
      yMax: 1,
      format: (v) => `${Number((v * 100).toFixed(1))}%`,
    }) +
    `<ul>${
      snapshots.map((s) =>
        `<li><b>${escapeHtml(s.label)}</b>: ${percent(s.passAt1)} over ${s.problems} problems × ` +
        `${s.samplesPerProblem} samples</li>`
      ).join("")
    }</ul></div>`;

const completionCell = (label: string, sample: SampleCompletion | undefined): string =>
  sample === undefined
    ? `<div class="cell"><div class="label">${escapeHtml(label)}</div><em>no sample</em></div>`
    : `<div class="cell"><div class="label">${escapeHtml(label)} ` +
      (sample.correct
        ? `<span class="ok">&#10003; correct</span>`
        : `<span class="bad">&#10007; incorrect</span>`) +
      `</div><pre>${escapeHtml(sample.completion)}</pre></div>`;

/** Up to SAMPLE_LIMIT problems, each shown with its before and after completions side by side. */
const samplesSection = (before: EvalSnapshot | null, after: EvalSnapshot | null): string => {
  const all = [...(before?.samples ?? []), ...(after?.samples ?? [])];
  const problems = [...new Set(all.map((s) => s.problem))].slice(0, SAMPLE_LIMIT);
  const find = (snapshot: EvalSnapshot | null, problem: string) =>
    snapshot?.samples.find((s) => s.problem === problem);
  return problems.length === 0 ? "" : `<h2>Sample completions</h2>` + problems.map((problem) => {
    const gold = all.find((s) => s.problem === problem)?.gold ?? "";
    return `<div class="sample"><p class="problem">${escapeHtml(problem)}</p>` +
      `<p class="gold">gold answer: <code>${escapeHtml(gold)}</code></p><div class="pair">` +
      completionCell(before?.label ?? "before", find(before, problem)) +
      completionCell(after?.label ?? "after", find(after, problem)) + `</div></div>`;
  }).join("");
};

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;color:#1f2937;max-width:1120px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid #e5e7eb}
table.summary{border-collapse:collapse;font-size:13px}
.summary th,.summary td{text-align:left;padding:3px 14px 3px 0;border-bottom:1px solid #f3f4f6}
.summary th{font-weight:500;color:#6b7280}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:12px}
.charts svg{width:100%;height:auto;border:1px solid #f3f4f6;border-radius:6px}
.pass{display:flex;gap:24px;align-items:center}
.sample{border:1px solid #e5e7eb;border-radius:6px;padding:10px 12px;margin:12px 0}
.problem{margin:0 0 4px;white-space:pre-wrap}.gold{margin:0 0 8px;color:#6b7280}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:12px}.label{font-weight:600;margin-bottom:4px}
pre{white-space:pre-wrap;word-break:break-word;max-height:320px;overflow:auto;margin:0;
background:#f9fafb;padding:8px;border-radius:4px;font-size:12px}
.ok{color:#16a34a}.bad{color:#dc2626}`;

/** The full self-contained HTML report of a GRPO run (inline CSS and SVG, no scripts). */
export const renderReport = (input: ReportInput): string => {
  const charts = metricCharts(input.metrics).map((chart) =>
    lineChart({
      title: chart.title,
      xLabel: "step",
      yLabel: chart.yLabel,
      series: chartSeries(input.metrics, chart, input.ranges?.[chart.key]),
    })
  );
  const snapshots = [input.before, input.after].filter((s): s is EvalSnapshot => s !== null);
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">` +
    `<title>${escapeHtml(input.title)}</title><style>${STYLE}</style></head><body>` +
    `<h1>${escapeHtml(input.title)}</h1>` + summaryTable(input.summary) +
    (charts.length === 0
      ? ""
      : `<h2>Training curves</h2><div class="charts">${charts.join("")}</div>`) +
    passAtOneSection(snapshots) + samplesSection(input.before, input.after) + `</body></html>\n`;
};
