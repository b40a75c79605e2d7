/** Dense layers in Hugging Face layout (weight [out, in]) with an optional LoRA branch. */
import { add, broadcastTo, customVjp, matmul, mul, reshape, sum } from "../autodiff/ops.ts";
import { matmulAdd } from "../autodiff/matmul_add.ts";
import { scope, type Tensor, tensor } from "../autodiff/tensor.ts";
import type { LoraPair } from "../io/peft.ts";
import { type Key, uniformInto } from "../random/prng.ts";

/** A linear layer's weights, as Hugging Face stores them. */
export interface LinearParams {
  /** [out, in] */
  readonly weight: Tensor;
  /** [out], or none. */
  readonly bias?: Tensor | null;
}

/** A LoRA branch adds scaling · (x Aᵀ) Bᵀ for its pair A [r, in], B [out, r]. */
export interface LoraBranch {
  readonly pair: LoraPair<Tensor>;
  readonly scaling: number;
  /** Dropout on the branch input while training: probability and the key that draws the mask. */
  readonly dropout?: { readonly rate: number; readonly key: Key } | null;
}

export const linear = (x: Tensor, p: LinearParams, lora?: LoraBranch | null): Tensor =>
  lora ? loraLinear(x, p, lora) : base(x, p.weight, p.bias ?? null);

/** [..., features] as rows [n, features]. */
const rows = (t: Tensor): Tensor => reshape(t, [-1, t.shape[t.rank - 1]]);

/**
 * x Wᵀ + bias: on backends that write buffers in place, the product accumulates onto the bias
 * copied to every row (a fill at memcpy speed instead of a pass adding it); elsewhere (tfjs) the
 * copy would be one pass more.
 */
const base = (x: Tensor, w: Tensor, bias: Tensor | null): Tensor => {
  const outShape = [...x.shape.slice(0, -1), w.shape[0]];
  if (!bias || x.rank < 2 || !x.backend.kernels.writeInto) {
    const product = matmul(x, w, { transposeB: true });
    return bias ? add(product, bias) : product;
  }
  const biasRows = broadcastTo(bias, outShape); // a new tensor: consumed below
  return matmulAdd(biasRows, x, w, { transposeB: true, consume: true });
};

/**
 * x Wᵀ + bias + scaling · (input Aᵀ) Bᵀ, input being x or its dropout, as one op with its own
 * gradient. The branch accumulates onto the base product (matmulAdd) in both directions: forward
 * onto x Wᵀ, and backward d x = g W + scaling · (g B) A when input is x; the scaling multiplies
 * the rank-r side. Frozen W and bias cost no gradient.
 */
const loraLinear = (x: Tensor, p: LinearParams, { pair, scaling, dropout }: LoraBranch) => {
  const input = dropout && dropout.rate > 0 ? applyDropout(x, dropout.rate, dropout.key) : x;
  const outShape = [...x.shape.slice(0, -1), p.weight.shape[0]];
  // The rank-r scaling · input Aᵀ [n, r], kept from the forward for B's gradient.
  let down: Tensor | null = null;
  const op = customVjp(
    (x: Tensor, input: Tensor, w: Tensor, a: Tensor, b: Tensor, ...bias: Tensor[]) => {
      // Only the output and `down` outlive the forward.
      const made = scope(() => {
        const down = mul(matmul(rows(input), a, { transposeB: true }), scaling);
        const product = base(rows(x), w, bias[0] ?? null); // a temporary: the branch adds in place
        const y = matmulAdd(product, down, b, { transposeB: true, consume: true });
        return { y: reshape(y, outShape), down };
      });
      down = made.down;
      return { output: made.y, aux: null };
    },
    ([x, input, w, a, b], g, needs) => {
      const g2 = rows(g);
      const gDown = needs[0] || needs[1] || needs[3]
        ? mul(matmul(g2, b), scaling) // d (input Aᵀ), [n, r]
        : null;
      const dx = () =>
        input === x ? matmulAdd(matmul(g2, w), gDown!, a, { consume: true }) : matmul(g2, w);
      return [
        needs[0] ? reshape(dx(), x.shape) : null,
        needs[1] && input !== x ? reshape(matmul(gDown!, a), input.shape) : null,
        needs[2] ? matmul(g2, rows(x), { transposeA: true }) : null,
        needs[3] ? matmul(gDown!, rows(input), { transposeA: true }) : null,
        needs[4] ? matmul(g2, down!, { transposeA: true }) : null,
        needs[5] ? sum(g2, 0) : null,
      ];
    },
  );
  const bias = p.bias ? [p.bias] : [];
  return op(x, input, p.weight, pair.A, pair.B, ...bias).output;
};

// The host mask of every dropout call, reused: a fresh one per projection was ~3 GB of garbage
// per 1.5B training step, which the collector frees late.
let maskScratch = new Float32Array(0);

/** Inverted dropout with a mask drawn from `key` on the host (identical on every backend). */
export const applyDropout = (x: Tensor, rate: number, key: Key): Tensor => {
  if (!(rate >= 0 && rate < 1)) throw new Error(`dropout: rate must be in [0, 1), got ${rate}`);
  const keepScale = 1 / (1 - rate);
  if (maskScratch.length < x.size) maskScratch = new Float32Array(x.size);
  const mask = uniformInto(key, maskScratch.subarray(0, x.size));
  for (let i = 0; i < mask.length; i++) mask[i] = mask[i] >= rate ? keepScale : 0;
  return mul(x, tensor(x.backend, mask, x.shape)); // tensor() copies: the scratch is free again
};
