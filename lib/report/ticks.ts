/** Axis ticks: the rounded range and the tick values. */
export interface Ticks {
  /** The axis minimum (a tick). */
  readonly lo: number;
  /** The axis maximum (a tick). */
  readonly hi: number;
  /** The distance between ticks (1, 2 or 5 × 10ⁿ). */
  readonly step: number;
  /** Every tick from lo to hi. */
  readonly values: readonly number[];
}

/** Rounds a raw step up to 1, 2 or 5 times a power of ten, so tick labels read cleanly. */
const niceStep = (raw: number): number => {
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = (raw / power) * (1 - 1e-9); // 2.0000000000000004 still counts as 2
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
};

/** Pads an empty or single-valued range so a flat line still sits inside the plot. */
const widen = (lo: number, hi: number): readonly [number, number] => {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (lo < hi) return [lo, hi];
  const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
  return [lo - pad, hi + pad];
};

/** About `count` evenly spaced round ticks covering [min, max]; the axis spans first..last. */
export const niceTicks = (min: number, max: number, count = 5): Ticks => {
  const [a, b] = widen(min, max);
  const step = niceStep((b - a) / count);
  // The epsilon keeps float noise (0.6 / 0.2 = 2.9999…) from adding a spurious extra tick.
  const first = Math.floor(a / step + 1e-9);
  const last = Math.ceil(b / step - 1e-9);
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  const values = Array.from(
    { length: last - first + 1 },
    (_, i) => Number(((first + i) * step).toFixed(decimals)),
  );
  return { lo: values[0], hi: values[values.length - 1], step, values };
};

/** Tick label: plain decimals, or short exponent form for tiny steps (learning rates) and huge values. */
export const formatTick = (value: number, step: number): string =>
  value !== 0 && (step < 1e-3 || Math.abs(value) >= 1e5)
    ? Number(value.toPrecision(3)).toExponential()
    : String(value);
