/** Shape rules shared by every backend. Errors name the op and the shapes at fault. */
import type { Shape } from "./kernels.ts";

export const sizeOf = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);

/** Bytes per value of every dtype a tensor may have (float32 and int32 alike). */
export const BYTES_PER_VALUE = 4;

/** Bytes one tensor of this shape occupies. */
export const bytesOf = (shape: Shape): number => sizeOf(shape) * BYTES_PER_VALUE;

export const stridesOf = (shape: Shape): number[] => {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
};

export const fmt = (shape: Shape): string => `[${shape.join(", ")}]`;

export const sameShape = (a: Shape, b: Shape): boolean =>
  a.length === b.length && a.every((d, i) => d === b[i]);

export const broadcastShapes = (op: string, a: Shape, b: Shape): number[] => {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes ${fmt(a)} and ${fmt(b)} do not broadcast`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
};

export const checkShape = (op: string, shape: Shape): void => {
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`${op}: invalid shape ${fmt(shape)}`);
  }
};

export const normalizeAxis = (op: string, axis: number, rank: number): number => {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new Error(`${op}: axis ${axis} out of range for rank ${rank}`);
  }
  return a;
};

export const normalizeAxes = (
  op: string,
  axes: number | readonly number[] | undefined,
  rank: number,
): number[] => {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === "number" ? [axes] : axes;
  return [...new Set(list.map((a) => normalizeAxis(op, a, rank)))].sort((x, y) => x - y);
};

/** The output shape of a matmul, or an error naming both shapes. */
export const matmulShape = (
  a: Shape,
  b: Shape,
  transposeA: boolean,
  transposeB: boolean,
): number[] => {
  const where = () =>
    `matmul: shapes ${fmt(a)} and ${fmt(b)}` +
    (transposeA || transposeB ? ` (transposeA=${transposeA}, transposeB=${transposeB})` : "");
  if (a.length < 2 || b.length < 2) throw new Error(`${where()}: both need rank >= 2`);
  const [m, ka] = transposeA
    ? [a[a.length - 1], a[a.length - 2]]
    : [a[a.length - 2], a[a.length - 1]];
  const [kb, n] = transposeB
    ? [b[b.length - 1], b[b.length - 2]]
    : [b[b.length - 2], b[b.length - 1]];
  if (ka !== kb) throw new Error(`${where()}: inner dimensions ${ka} and ${kb} differ`);
  const batchA = a.slice(0, -2);
  const batchB = b.slice(0, -2);
  if (b.length > 2 && !sameShape(batchA, batchB)) {
    throw new Error(`${where()}: batch dimensions differ`);
  }
  return [...batchA, m, n];
};

/**
 * The extents a matmul kernel loops over, for shapes matmulShape has accepted: `batch` products of
 * [m, k] x [k, n], b batched or shared; `foldable` when a shared b meets an untransposed a, so the
 * batch can be folded into m as one product.
 */
export const matmulExtents = (
  a: Shape,
  b: Shape,
  transposeA: boolean,
  transposeB: boolean,
): {
  m: number;
  k: number;
  n: number;
  batch: number;
  bBatched: boolean;
  foldable: boolean;
} => {
  const r = a.length;
  const [m, k] = transposeA ? [a[r - 1], a[r - 2]] : [a[r - 2], a[r - 1]];
  const n = transposeB ? b[b.length - 2] : b[b.length - 1];
  const bBatched = b.length > 2;
  return { m, k, n, batch: sizeOf(a.slice(0, -2)), bBatched, foldable: !bBatched && !transposeA };
};
