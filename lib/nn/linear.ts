/** Dense layers in Hugging Face layout (weight [out, in]) with an optional LoRA branch. */
import { add, matmul, mul } from "../autodiff/ops.ts";
import { type Tensor, tensor } from "../autodiff/tensor.ts";
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

export const linear = (x: Tensor, p: LinearParams, lora?: LoraBranch | null): Tensor => {
  const base = matmul(x, p.weight, { transposeB: true });
  const withBias = p.bias ? add(base, p.bias) : base;
  return lora ? add(withBias, loraDelta(x, lora)) : withBias;
};

export const loraDelta = (x: Tensor, { pair, scaling, dropout }: LoraBranch): Tensor => {
  const input = dropout && dropout.rate > 0 ? applyDropout(x, dropout.rate, dropout.key) : x;
  // Scaled on the rank-r side: r values per row instead of out (and the same in the backward).
  const down = mul(matmul(input, pair.A, { transposeB: true }), scaling);
  return matmul(down, pair.B, { transposeB: true });
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
