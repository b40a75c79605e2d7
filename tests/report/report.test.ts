import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  barChart,
  type EvalSnapshot,
  lineChart,
  metricCharts,
  niceTicks,
  renderReport,
} from "../../lib/report/mod.ts";
import type { MetricsRow } from "../../lib/train/metrics.ts";
import {
  formatDuration,
  formatQuantity,
  formatSi,
  rewardRanges,
  smoothPoints,
} from "../../lib/report/mod.ts";

const count = (text: string, needle: string): number => text.split(needle).length - 1;

/** Every opened tag is closed (or self-closed) and the counts of common tags balance. */
const assertBalanced = (markup: string): void => {
  for (const tag of ["svg", "text", "table", "div", "pre", "tr"]) {
    assert.is(
      count(markup, `<${tag}>`) + count(markup, `<${tag} `),
      count(markup, `</${tag}>`),
      tag,
    );
  }
};

const pathData = (svg: string): string[] => [...svg.matchAll(/ d="([^"]*)"/g)].map((m) => m[1]);

const snapshot = (label: string, completion: string, correct: boolean): EvalSnapshot => ({
  label,
  passAt1: correct ? 0.75 : 0.25,
  problems: 4,
  samplesPerProblem: 2,
  samples: [{ problem: "1 < 2? & why", gold: "yes", completion, correct }],
});

test("nice ticks are round numbers covering the range", () => {
  assert.equal(niceTicks(0, 1).values, [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.equal(niceTicks(3, 97).values, [0, 20, 40, 60, 80, 100]);
  assert.equal(niceTicks(0, 1e-5).values, [0, 2e-6, 4e-6, 6e-6, 8e-6, 1e-5]);
  const flat = niceTicks(5, 5);
  assert.ok(flat.lo < 5 && flat.hi > 5, "a constant series still gets a range");
  assert.equal(niceTicks(NaN, NaN).values, [0, 0.2, 0.4, 0.6, 0.8, 1]);
});

test("completions are escaped: no live <script> or </answer> in the report", () => {
  const html = renderReport({
    title: "run <1>",
    summary: { note: "<b>" },
    metrics: [],
    before: snapshot("before", "<think>x</think><script>alert(1)</script>", false),
    after: snapshot("after", "<think>y</think><answer>yes</answer>", true),
  });
  assert.not.ok(html.includes("<script"));
  assert.not.ok(html.includes("</answer>"));
  assert.not.ok(html.includes("<think>"));
  assert.ok(html.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
  assert.ok(html.includes("&lt;/answer&gt;"));
  assert.ok(html.includes("1 &lt; 2? &amp; why"));
  assert.ok(html.includes("run &lt;1&gt;"));
  assert.is(count(html, "&#10003; correct"), 1);
  assert.is(count(html, "&#10007; incorrect"), 1);
  assertBalanced(html);
});

test("charts follow the metric keys present; all-NaN metrics are skipped", () => {
  const rows: MetricsRow[] = [1, 2, 3].map((step) => ({
    step,
    reward: step / 3,
    "rewards/accuracy/mean": step / 4,
    "rewards/format/mean": 1,
    kl: NaN,
    loss: step,
  }));
  assert.equal(metricCharts(rows).map((c) => c.key), [
    "reward",
    "rewards/accuracy/mean",
    "rewards/format/mean",
    "loss",
  ]);
  const html = renderReport({ title: "t", summary: {}, metrics: rows, before: null, after: null });
  assert.is(count(html, "<svg"), 4);
  assertBalanced(html);
});

test("NaN gaps split the line instead of appearing in path data", () => {
  const svg = lineChart({
    title: "gappy",
    xLabel: "step",
    series: [{
      name: "a",
      points: [[0, 1], [1, NaN], [2, 3], [3, 4], [4, NaN]],
      band: [[0, 0, 2], [1, NaN, NaN], [2, 2, 4], [3, 3, 5]],
    }, { name: "b", points: [[0, 2], [4, 0]] }],
  });
  assert.not.ok(svg.includes("NaN"));
  const [band1, band2, lineA, lineB] = pathData(svg);
  assert.ok(band1.endsWith("Z") && band2.endsWith("Z"));
  assert.is(count(lineA, "M"), 2, "two runs: [0] and [2,3]");
  assert.is(count(lineB, "M"), 1);
  assert.ok(svg.includes(">a</text>") && svg.includes(">b</text>"), "legend names both series");
  assertBalanced(svg);
});

test("empty inputs render without throwing", () => {
  const html = renderReport({
    title: "empty",
    summary: {},
    metrics: [],
    before: null,
    after: null,
  });
  assert.ok(html.startsWith("<!DOCTYPE html>"));
  assert.is(count(html, "<svg"), 0);
  const svg = lineChart({ title: "none", xLabel: "step", series: [] });
  assert.ok(svg.includes("no data"));
  assertBalanced(svg);
});

test("summary flattens nested objects and bar chart prints values", () => {
  const html = renderReport({
    title: "s",
    summary: { cost: { dollars: 0.123456 }, steps: 10 },
    metrics: [],
    before: snapshot("before", "", false),
    after: null,
  });
  assert.ok(html.includes("<th>cost.dollars</th><td>$0.12</td>"));
  assert.ok(html.includes("<th>steps</th><td>10</td>"));
  const bars = barChart({
    title: "pass@1",
    bars: [{ label: "before", value: 0.25 }, { label: "after", value: NaN }],
    yMax: 1,
  });
  assert.is(count(bars, "<rect"), 1);
  assert.ok(bars.includes(">0.25</text>") && bars.includes(">n/a</text>"));
  assertBalanced(bars);
});

test("numbers are formatted by what the key measures", () => {
  assert.is(formatSi(606912155648, "FLOP"), "607 GFLOP");
  assert.is(formatQuantity("cost.flops", 1.2e12), "1.2 TFLOP");
  assert.is(formatQuantity("cost.dollars", 0.0412), "$0.04");
  assert.is(formatQuantity("cost.dollars", 0.00123), "$0.0012");
  assert.is(formatQuantity("wall_seconds", 134.2), "2 min 14 s");
  assert.is(formatDuration(3725), "1 h 2 min");
  assert.is(formatDuration(4.25), "4.3 s");
  assert.is(formatQuantity("trainable_share", 0.0461), "4.61%");
  assert.is(formatQuantity("total_params", 1234567), "1,234,567");
  const html = renderReport({
    title: "run-7",
    summary: { cost: { flops: 606912155648, seconds: 134 } },
    metrics: [],
    before: null,
    after: null,
  });
  assert.ok(html.includes("<h1>run-7</h1>"));
  assert.ok(html.includes("<td>607 GFLOP</td>") && html.includes("<td>2 min 14 s</td>"));
  assert.not.ok(html.includes("606912155648"));
});

test("reward ranges: each reward's bounds, the total as the weighted sum", () => {
  const ranges = rewardRanges([
    { name: "accuracy", weight: 2 },
    { name: "format", weight: 1 },
    { name: "repetition", weight: 0.5 },
  ]);
  assert.equal(ranges["rewards/accuracy/mean"], [0, 1]);
  assert.equal(ranges["rewards/repetition/mean"], [-1, 0]);
  assert.equal(ranges.reward, [-0.5, 3]);
  assert.equal(rewardRanges([{ name: "custom", weight: 1 }]), {}, "unknown: no clipping");
});

test("±std bands stay inside the reward's range; the smoothed line is drawn over the raw one", () => {
  const rows: MetricsRow[] = Array.from({ length: 30 }, (_, i) => ({
    step: i + 1,
    reward: i % 2,
    reward_std: 0.9,
    "rewards/accuracy/mean": i % 2 === 0 ? 0.1 : 0.9,
    "rewards/accuracy/std": 0.6,
  }));
  const html = renderReport({
    title: "bands",
    summary: {},
    metrics: rows,
    ranges: rewardRanges([{ name: "accuracy", weight: 1 }]),
    before: null,
    after: null,
  });
  const accuracy = html.split("<svg").find((svg) => svg.includes("Reward: accuracy"))!;
  const [band, raw, smooth] = pathData(accuracy);
  assert.ok(band.endsWith("Z"));
  // The y axis spans exactly [0, 1]: the band, clipped, never widens it to [-0.5, 1.5].
  assert.ok(accuracy.includes(">0</text>") && accuracy.includes(">1</text>"));
  assert.not.ok(accuracy.includes(">-0.5</text>") || accuracy.includes(">1.5</text>"));
  assert.ok(accuracy.includes('stroke-opacity="0.35"'), "raw values drawn faint");
  assert.is(count(accuracy, "<path"), 3);
  assert.ok(raw.length > 0 && smooth.length > 0);
  const smoothed = smoothPoints(rows.map((r, i) => [i, r["rewards/accuracy/mean"]]), 0.6);
  const spread = (ys: number[]) => Math.max(...ys) - Math.min(...ys);
  assert.ok(spread(smoothed.slice(10).map((p) => p[1])) < 0.5, "smoothing damps the zigzag");
  assert.equal(smoothPoints([[0, 1], [1, NaN], [2, 1]], 0.5).map((p) => p[1]), [1, NaN, 1]);
});

test.run();
