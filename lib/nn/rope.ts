/**
 * Rotary position embeddings, rotate-half convention (Hugging Face Qwen2/Llama): dimension j
 * pairs with j + d/2 and both turn by position · theta^(-2j/d).
 */
import { add, concat, mul, neg, reshape, slice } from "../autodiff/ops.ts";
import { type Backend, type Tensor, tensor } from "../autodiff/tensor.ts";

/** cos and sin tables [B, T, headDim] for explicit integer positions [B][T]. */
export const ropeTables = (
  backend: Backend,
  positions: readonly (readonly number[])[],
  headDim: number,
  theta: number,
): { cos: Tensor; sin: Tensor } => {
  const half = headDim / 2;
  const b = positions.length;
  const t = positions[0]?.length ?? 0;
  const cos = new Float32Array(b * t * headDim);
  const sin = new Float32Array(b * t * headDim);
  const invFreq = Array.from({ length: half }, (_, j) => Math.pow(theta, (-2 * j) / headDim));
  for (let i = 0; i < b; i++) {
    for (let s = 0; s < t; s++) {
      const base = (i * t + s) * headDim;
      for (let j = 0; j < half; j++) {
        const angle = positions[i][s] * invFreq[j];
        cos[base + j] = cos[base + j + half] = Math.cos(angle);
        sin[base + j] = sin[base + j + half] = Math.sin(angle);
      }
    }
  }
  return { cos: tensor(backend, cos, [b, t, headDim]), sin: tensor(backend, sin, [b, t, headDim]) };
};

const rotateHalf = (x: Tensor): Tensor => {
  const d = x.shape[x.rank - 1];
  const begin = x.shape.map(() => 0);
  const size = x.shape.map((s, i) => (i === x.rank - 1 ? d / 2 : s));
  const x1 = slice(x, begin, size);
  const x2 = slice(x, begin.map((_, i) => (i === x.rank - 1 ? d / 2 : 0)), size);
  return concat([neg(x2), x1], -1);
};

/** x: [B, heads, T, headDim]; cos/sin: [B, T, headDim], broadcast over heads. */
export const applyRope = (x: Tensor, cos: Tensor, sin: Tensor): Tensor => {
  const [b, t, d] = cos.shape;
  return add(mul(x, reshape(cos, [b, 1, t, d])), mul(rotateHalf(x), reshape(sin, [b, 1, t, d])));
};
