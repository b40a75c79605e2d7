import { escapeHtml } from "./escape.ts";
import { formatTick, niceTicks } from "./ticks.ts";
import type { BarChartOptions, LineChartOptions, Point } from "./types.ts";

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"];
const MARGIN = { left: 60, right: 16, top: 40, bottom: 42 } as const;
// The first bar is usually the baseline ("before"), so it gets a muted colour.
const BAR_COLORS = ["#94a3b8", ...PALETTE];
const GRID = "#e5e7eb";
const AXIS = "#9ca3af";

const linear = (d0: number, d1: number, r0: number, r1: number) => (v: number): number =>
  r0 + ((v - d0) / (d1 - d0)) * (r1 - r0);

const num = (v: number): string => v.toFixed(1);

const text = (x: number, y: number, content: string, attrs = ""): string =>
  `<text x="${num(x)}" y="${num(y)}" ${attrs}>${escapeHtml(content)}</text>`;

const extent = (values: readonly number[]): readonly [number, number] =>
  values.reduce<readonly [number, number]>(
    ([lo, hi], v) => [Math.min(lo, v), Math.max(hi, v)],
    [Infinity, -Infinity],
  );

/** Splits a sequence at non-finite entries so gaps stay gaps instead of "NaN" in path data. */
const finiteRuns = <P extends readonly number[]>(points: readonly P[]): P[][] =>
  points.reduce<P[][]>((runs, p) => {
    const current = runs[runs.length - 1];
    if (p.every(Number.isFinite)) current.push(p);
    else if (current.length > 0) runs.push([]);
    return runs;
  }, [[]]).filter((run) => run.length > 0);

const svgOpen = (width: number, height: number, title: string): string =>
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" ` +
  `height="${height}" font-family="system-ui, sans-serif" font-size="11" fill="#374151">` +
  `<title>${escapeHtml(title)}</title>` +
  text(8, 18, title, 'font-size="13" font-weight="600" fill="#111827"');

/** Legend swatches laid out right-aligned in the header strip (text width estimated). */
const legend = (names: readonly string[], right: number): string => {
  const widths = names.map((n) => 22 + n.length * 6.2);
  const start = right - widths.reduce((a, b) => a + b, 0);
  return names.map((name, i) => {
    const x = start + widths.slice(0, i).reduce((a, b) => a + b, 0);
    return `<rect x="${num(x)}" y="24" width="12" height="4" fill="${PALETTE[i % 6]}"/>` +
      text(x + 16, 30, name);
  }).join("");
};

/** An SVG line chart with round ticks, light grid, gaps at NaN and optional shaded bands. */
export const lineChart = (opts: LineChartOptions): string => {
  const width = opts.width ?? 520;
  const height = opts.height ?? 260;
  const [left, right] = [MARGIN.left, width - MARGIN.right];
  const [top, bottom] = [MARGIN.top, height - MARGIN.bottom];
  const finite = opts.series.flatMap((s) => [
    ...s.points,
    ...(s.band ?? []).flatMap(([x, lo, hi]): Point[] => [[x, lo], [x, hi]]),
  ]).filter((p) => p.every(Number.isFinite));
  const xt = niceTicks(...extent(finite.map((p) => p[0])), 6);
  const yt = niceTicks(...extent(finite.map((p) => p[1])), 5);
  const sx = linear(xt.lo, xt.hi, left, right);
  const sy = linear(yt.lo, yt.hi, bottom, top);
  const grid = [
    ...yt.values.map((v) =>
      `<line x1="${left}" x2="${right}" y1="${num(sy(v))}" y2="${num(sy(v))}" stroke="${GRID}"/>` +
      text(left - 6, sy(v) + 4, formatTick(v, yt.step), 'text-anchor="end"')
    ),
    ...xt.values.map((v) =>
      `<line x1="${num(sx(v))}" x2="${num(sx(v))}" y1="${top}" y2="${bottom}" stroke="${GRID}"/>` +
      text(sx(v), bottom + 15, formatTick(v, xt.step), 'text-anchor="middle"')
    ),
  ].join("");
  // A faint series (raw values) comes just before the line it underlies and takes its colour.
  const colorOf = (i: number) =>
    PALETTE[opts.series.slice(0, i).filter((s) => !s.faint).length % 6];
  const bands = opts.series.map((s, i) =>
    finiteRuns(s.band ?? []).map((run) => {
      const upper = run.map(([x, , hi]) => `${num(sx(x))},${num(sy(hi))}`);
      const lower = run.toReversed().map(([x, lo]) => `${num(sx(x))},${num(sy(lo))}`);
      return `<path d="M${[...upper, ...lower].join("L")}Z" fill="${colorOf(i)}" ` +
        `fill-opacity="0.15"/>`;
    }).join("")
  ).join("");
  // A round line cap turns a one-point run ("M x,y h0") into a visible dot.
  const lines = opts.series.map((s, i) => {
    const d = finiteRuns(s.points)
      .map((run) => "M" + run.map(([x, y]) => `${num(sx(x))},${num(sy(y))}`).join("L") + "h0")
      .join("");
    const stroke = s.faint ? `stroke-width="1" stroke-opacity="0.35"` : `stroke-width="1.8"`;
    return d === "" ? "" : `<path d="${d}" fill="none" stroke="${colorOf(i)}" ${stroke} ` +
      `stroke-linecap="round" stroke-linejoin="round"/>`;
  }).join("");
  const named = opts.series.filter((s) => !s.faint);
  const yLabel = opts.yLabel === undefined ? "" : text(
    14,
    (top + bottom) / 2,
    opts.yLabel,
    `text-anchor="middle" transform="rotate(-90 14 ${num((top + bottom) / 2)})"`,
  );
  return svgOpen(width, height, opts.title) + grid + bands + lines +
    `<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" ` +
    `stroke="${AXIS}"/>` +
    (finite.length === 0
      ? text((left + right) / 2, (top + bottom) / 2, "no data", 'text-anchor="middle"')
      : "") +
    text((left + right) / 2, height - 8, opts.xLabel, 'text-anchor="middle"') + yLabel +
    (named.length > 1 ? legend(named.map((s) => s.name), right) : "") + "</svg>";
};

/** An SVG bar chart with the value printed above each bar (e.g. pass@1 before vs after). */
export const barChart = (opts: BarChartOptions): string => {
  const width = opts.width ?? 320;
  const height = opts.height ?? 240;
  const format = opts.format ?? ((v: number) => formatTick(v, 1));
  const [left, right] = [MARGIN.left, width - MARGIN.right];
  const [top, bottom] = [MARGIN.top, height - MARGIN.bottom + 12];
  const largest = extent(opts.bars.map((b) => b.value).filter(Number.isFinite))[1];
  const yt = niceTicks(0, opts.yMax ?? (largest > 0 ? largest : 1), 5);
  const sy = linear(yt.lo, yt.hi, bottom, top);
  const slot = (right - left) / Math.max(1, opts.bars.length);
  const grid = yt.values.map((v) =>
    `<line x1="${left}" x2="${right}" y1="${num(sy(v))}" y2="${num(sy(v))}" stroke="${GRID}"/>` +
    text(left - 6, sy(v) + 4, format(v), 'text-anchor="end"')
  ).join("");
  const bars = opts.bars.map((bar, i) => {
    const center = left + slot * (i + 0.5);
    const ok = Number.isFinite(bar.value);
    const y = ok ? sy(bar.value) : bottom;
    return (ok
      ? `<rect x="${num(center - slot * 0.3)}" y="${num(y)}" width="${num(slot * 0.6)}" ` +
        `height="${num(bottom - y)}" fill="${BAR_COLORS[i % 7]}"/>`
      : "") +
      text(
        center,
        y - 5,
        ok ? format(bar.value) : "n/a",
        'text-anchor="middle" font-weight="600"',
      ) +
      text(center, bottom + 15, bar.label, 'text-anchor="middle"');
  }).join("");
  return svgOpen(width, height, opts.title) + grid + bars +
    `<line x1="${left}" x2="${right}" y1="${bottom}" y2="${bottom}" stroke="${AXIS}"/></svg>`;
};
