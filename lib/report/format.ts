/**
 * Numbers as people read them in a report: 1.2 TFLOP, $0.04, 2 min 14 s, 4.6%, 1,234,567 —
 * chosen by the summary key's name (TRL/our conventions: *flops, *dollars, *seconds, *share).
 */

const SI = ["", "K", "M", "G", "T", "P", "E"] as const;

/** 1.2e12 → "1.2 T" + unit: three significant digits at most, no trailing zeros. */
export const formatSi = (value: number, unit: string): string => {
  if (!Number.isFinite(value)) return String(value);
  const power = value === 0
    ? 0
    : Math.min(SI.length - 1, Math.max(0, Math.floor(Math.log10(Math.abs(value)) / 3)));
  const scaled = value / 1000 ** power;
  return `${Number(scaled.toPrecision(3))} ${SI[power]}${unit}`;
};

/** $0.04, $12.50, $0.0012 (two significant digits below a cent). */
export const formatDollars = (value: number): string =>
  Math.abs(value) >= 0.01 || value === 0
    ? `$${value.toFixed(2)}`
    : `$${Number(value.toPrecision(2))}`;

/** 0.42 s, 45 s, 2 min 14 s, 1 h 3 min. */
export const formatDuration = (seconds: number): string => {
  if (!Number.isFinite(seconds)) return String(seconds);
  if (seconds < 10) return `${Number(seconds.toPrecision(2))} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
};

const plain = (value: number): string =>
  Number.isInteger(value) ? value.toLocaleString("en-US") : String(Number(value.toPrecision(4)));

/** A summary value formatted by what its key says it measures. */
export const formatQuantity = (key: string, value: number): string => {
  const name = key.toLowerCase();
  if (/flops?$/.test(name)) return formatSi(value, "FLOP");
  if (/dollars?$|(^|[._])cost$/.test(name)) return formatDollars(value);
  if (/seconds$/.test(name)) return formatDuration(value);
  if (/(share|ratio|fraction)$/.test(name) && value >= 0 && value <= 1) {
    return `${Number((value * 100).toPrecision(3))}%`;
  }
  return plain(value);
};
