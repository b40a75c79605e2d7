export * from "./types.ts";
export { escapeHtml } from "./escape.ts";
export { formatTick, niceTicks, type Ticks } from "./ticks.ts";
export { barChart, lineChart } from "./charts.ts";
export { type MetricChart, metricCharts, renderReport } from "./report.ts";
export { formatDollars, formatDuration, formatQuantity, formatSi } from "./format.ts";
export { type Range, rewardRanges } from "./ranges.ts";
export { smoothingWeight, smoothPoints } from "./smooth.ts";
