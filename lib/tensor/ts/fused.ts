/**
 * The pure-TS backend's fused kernels (see Kernels: swiglu, rmsNorm, rope, softmaxGrad and their
 * gradients): one loop over the values where the composed ops take one pass each, with a buffer
 * and a tape entry per pass. Rows up to 16K wide (every model's) run in wasm SIMD, four float32
 * lanes at a time (lib/tensor/wasm/activations.ts); wider ones in float64 loops here, which
 * round once, into the output.
 */
import type { Shape } from "../kernels.ts";
import { take } from "./pool.ts";
import {
  MAX_ROW_WIDTH,
  rmsNormGradInto,
  rmsNormInto,
  softmaxGradInto,
  swigluGradInto,
  swigluInto,
} from "../wasm/activations.ts";

const output = (n: number): Float32Array => take("float32", n, false) as Float32Array;

/** silu(gate) · up (in wasm SIMD: see lib/tensor/wasm/activations.ts). */
export const swiglu = (gate: Float32Array, up: Float32Array): Float32Array => {
  const out = output(gate.length);
  swigluInto(gate, up, out);
  return out;
};

/**
 * [d gate, d up] of swiglu, one after the other: with s = sigmoid(gate),
 * d gate = g · up · s · (1 + gate · (1 − s)) and d up = g · gate · s.
 */
export const swigluGrad = (g: Float32Array, gate: Float32Array, up: Float32Array): Float32Array => {
  const n = gate.length;
  const out = output(2 * n);
  swigluGradInto(g, gate, up, out.subarray(0, n), out.subarray(n));
  return out;
};

/** 1/√(mean of squares + eps) of the row of `width` values at `base`. */
const inverseRms = (x: Float32Array, base: number, width: number, eps: number): number => {
  let squares = 0;
  for (let j = 0; j < width; j++) squares += x[base + j] * x[base + j];
  return 1 / Math.sqrt(squares / width + eps);
};

// rmsNorm, rmsNormGrad and softmaxGrad each keep their float64 row loop in their own body: with
// the loop in a shared helper or a function of its own, rmsNorm over 4 x 151936 ran 1.2x slower.

/** x / √(mean(x²) + eps) · weight over the last axis. */
export const rmsNorm = (
  x: Float32Array,
  weight: Float32Array,
  shape: Shape,
  eps: number,
): Float32Array => {
  const width = shape[shape.length - 1];
  const out = output(x.length);
  if (width <= MAX_ROW_WIDTH) {
    rmsNormInto(x, weight, eps, out);
    return out;
  }
  for (let base = 0; base < x.length; base += width) {
    const r = inverseRms(x, base, width, eps);
    for (let j = 0; j < width; j++) out[base + j] = x[base + j] * r * weight[j];
  }
  return out;
};

/**
 * d x of rmsNorm: with r = 1/√(mean(x²) + eps) per row and H its width,
 * d x = r · w · g − x · r³ / H · Σ_j w_j g_j x_j.
 */
export const rmsNormGrad = (
  g: Float32Array,
  x: Float32Array,
  weight: Float32Array,
  shape: Shape,
  eps: number,
): Float32Array => {
  const width = shape[shape.length - 1];
  const out = output(x.length);
  if (width <= MAX_ROW_WIDTH) {
    rmsNormGradInto(g, x, weight, eps, out);
    return out;
  }
  for (let base = 0; base < x.length; base += width) {
    const r = inverseRms(x, base, width, eps);
    let dot = 0;
    for (let j = 0; j < width; j++) dot += weight[j] * g[base + j] * x[base + j];
    const along = (r * r * r * dot) / width;
    for (let j = 0; j < width; j++) {
      out[base + j] = r * weight[j] * g[base + j] - x[base + j] * along;
    }
  }
  return out;
};

/**
 * x · cos + rotateHalf(x) · sin per [D] row of x, reading the [B, T, D] tables' row of the same
 * batch entry and position. With rotateHalf(x) = [−x₂, x₁]: y₁ = x₁ c₁ − x₂ s₁ and
 * y₂ = x₂ c₂ + x₁ s₂; `inverse` applies the transpose, y₁ = x₁ c₁ + x₂ s₂ and y₂ = x₂ c₂ − x₁ s₁.
 * Rows are [B, heads, T, D] on both sides, or with `splitHeads` [B, T, heads, D] on the side
 * that is not [B, heads, T, D] (the input forward, the output inverse).
 */
export const rope = (
  x: Float32Array,
  shape: Shape,
  cos: Float32Array,
  sin: Float32Array,
  inverse: boolean,
  splitHeads: boolean,
): Float32Array => {
  const [b, heads, t] = splitHeads && !inverse ? [shape[0], shape[2], shape[1]] : shape;
  const d = shape[3];
  const out = output(x.length);
  // Rows in the input's order: reading in order and writing scattered is the faster way round.
  const inputHeadsFirst = inverse || !splitHeads;
  for (let i = 0; i < b; i++) {
    for (let outer = 0; outer < (inputHeadsFirst ? heads : t); outer++) {
      for (let inner = 0; inner < (inputHeadsFirst ? t : heads); inner++) {
        const [h, s] = inputHeadsFirst ? [outer, inner] : [inner, outer];
        const split = ((i * heads + h) * t + s) * d; // [B, heads, T, D]
        const merged = splitHeads ? ((i * t + s) * heads + h) * d : split; // [B, T, heads, D]
        const tab = (i * t + s) * d;
        if (inverse) turnRow(x, split, out, merged, cos, sin, tab, d, -1);
        else turnRow(x, merged, out, split, cos, sin, tab, d, 1);
      }
    }
  }
  return out;
};

/**
 * One row of `rope`: direction 1 turns (y₁ = x₁ c₁ − x₂ s₁, y₂ = x₂ c₂ + x₁ s₂), −1 applies the
 * transpose (y₁ = x₁ c₁ + x₂ s₂, y₂ = x₂ c₂ − x₁ s₁).
 */
const turnRow = (
  x: Float32Array,
  from: number,
  out: Float32Array,
  to: number,
  cos: Float32Array,
  sin: Float32Array,
  tab: number,
  d: number,
  direction: 1 | -1,
): void => {
  const half = d / 2;
  const [first, second] = direction === 1 ? [tab, tab + half] : [tab + half, tab];
  for (let j = 0; j < half; j++) {
    const x1 = x[from + j];
    const x2 = x[from + j + half];
    out[to + j] = x1 * cos[tab + j] - direction * x2 * sin[first + j];
    out[to + j + half] = x2 * cos[tab + j + half] + direction * x1 * sin[second + j];
  }
};

/** y · (g − Σ g · y) over each last-axis row, from softmax's output y. */
export const softmaxGrad = (y: Float32Array, g: Float32Array, shape: Shape): Float32Array => {
  const width = shape[shape.length - 1];
  const out = output(y.length);
  if (width <= MAX_ROW_WIDTH) {
    softmaxGradInto(y, g, width, out);
    return out;
  }
  for (let base = 0; base < y.length; base += width) {
    let dot = 0;
    for (let j = 0; j < width; j++) dot += g[base + j] * y[base + j];
    for (let j = 0; j < width; j++) out[base + j] = y[base + j] * (g[base + j] - dot);
  }
  return out;
};
