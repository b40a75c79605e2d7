/**
 * Rotary position embeddings, rotate-half convention (Hugging Face Qwen2/Qwen3/Llama): dimension
 * j pairs with j + d/2 and both turn by position · f_j, with f_j = theta^(-2j/d), optionally
 * rescaled as Llama 3.1+ does for long contexts.
 */
import { rope } from "../autodiff/fused.ts";
import { type Tensor, tensor } from "../autodiff/tensor.ts";
import type { RopeScaling } from "../families.ts";
import type { Backend } from "../tensor/backends.ts";

/**
 * Llama 3: a frequency whose wavelength 2π/f is under context / highFreqFactor is kept, one
 * over context / lowFreqFactor is divided by factor, and those between blend the two linearly
 * in context / wavelength (transformers' _compute_llama3_parameters).
 */
const llama3Frequency = (f: number, s: RopeScaling): number => {
  const wavelength = (2 * Math.PI) / f;
  const context = s.originalMaxPositionEmbeddings;
  if (wavelength < context / s.highFreqFactor) return f;
  if (wavelength > context / s.lowFreqFactor) return f / s.factor;
  const smooth = (context / wavelength - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
  return ((1 - smooth) * f) / s.factor + smooth * f;
};

/** The headDim / 2 rotation frequencies f_j. */
export const ropeFrequencies = (
  headDim: number,
  theta: number,
  scaling: RopeScaling | null = null,
): number[] =>
  Array.from({ length: headDim / 2 }, (_, j) => {
    const f = Math.pow(theta, (-2 * j) / headDim);
    return scaling ? llama3Frequency(f, scaling) : f;
  });

/** cos and sin tables [B, T, 2·frequencies] for explicit integer positions [B][T]. */
export const ropeTables = (
  backend: Backend,
  positions: readonly (readonly number[])[],
  frequencies: readonly number[],
): { cos: Tensor; sin: Tensor } => {
  const half = frequencies.length;
  const headDim = 2 * half;
  const b = positions.length;
  const t = positions[0]?.length ?? 0;
  const cos = new Float32Array(b * t * headDim);
  const sin = new Float32Array(b * t * headDim);
  // One row per distinct position (rows repeat across the batch), then copied where it occurs.
  const rows = new Map<number, number>(); // position → offset of its first row
  for (let i = 0; i < b; i++) {
    for (let s = 0; s < t; s++) {
      const base = (i * t + s) * headDim;
      const seen = rows.get(positions[i][s]);
      if (seen !== undefined) {
        cos.copyWithin(base, seen, seen + headDim);
        sin.copyWithin(base, seen, seen + headDim);
        continue;
      }
      rows.set(positions[i][s], base);
      for (let j = 0; j < half; j++) {
        const angle = positions[i][s] * frequencies[j];
        cos[base + j] = cos[base + j + half] = Math.cos(angle);
        sin[base + j] = sin[base + j + half] = Math.sin(angle);
      }
    }
  }
  return { cos: tensor(backend, cos, [b, t, headDim]), sin: tensor(backend, sin, [b, t, headDim]) };
};

/**
 * A projection's heads x [B, T, heads, headDim] turned by the cos/sin tables [B, T, headDim] and
 * laid out [B, heads, T, headDim] for attention, in one pass each way.
 */
export const applyRope = (x: Tensor, cos: Tensor, sin: Tensor): Tensor =>
  rope(x, cos, sin, { splitHeads: true });
