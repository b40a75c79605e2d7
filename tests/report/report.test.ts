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
  assert.ok(html.includes("<th>cost.dollars</th><td>0.1235</td>"));
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

test.run();
