/** Gradient clipping by global norm, with PyTorch's clip_grad_norm_ arithmetic. */
import { isTensor } from "../autodiff/grad.ts";
import { add, div, minimum, mul, sqrt, square, sum } from "../autodiff/ops.ts";
import { scalar, scope, Tensor } from "../autodiff/tensor.ts";
import { treeLeaves } from "../tree.ts";
import { findState, type GradientTransformation, zipMapTensors } from "./transform.ts";

/** sqrt(Σ g²) over every tensor of the tree, as a scalar tensor. */
export const globalNorm = (tree: unknown): Tensor => {
  const leaves = treeLeaves(tree, isTensor);
  if (leaves.length === 0) throw new Error("globalNorm: the tree holds no tensors");
  return scope(() => sqrt(leaves.map((g) => sum(square(g))).reduce((a, b) => add(a, b))));
};

/** Clipping's state: the norm it saw last. */
export interface ClipState {
  /** The global norm of the last gradients seen, before clipping (the `grad_norm` metric). */
  readonly norm: Tensor;
}

const isClipState = (s: unknown): s is ClipState =>
  s !== null && typeof s === "object" && (s as ClipState).norm instanceof Tensor;

/**
 * The global norm of the gradients the last update saw, as its clip transform computed it;
 * null when the optimizer does not clip.
 */
export const gradNormOf = (state: unknown): Tensor | null =>
  findState(state, isClipState)?.norm ?? null;

/**
 * Scales all gradients by min(1, maxNorm / (norm + 1e-6)), as torch.nn.utils.clip_grad_norm_
 * (which Hugging Face's Trainer calls) does.
 */
export const clipByGlobalNorm = (maxNorm: number): GradientTransformation<ClipState> => {
  if (!(maxNorm > 0)) throw new Error(`clipByGlobalNorm: maxNorm must be > 0, got ${maxNorm}`);
  return {
    init: (params) => {
      const [first] = treeLeaves(params, isTensor);
      if (!first) throw new Error("clipByGlobalNorm.init: params hold no tensors");
      return { norm: scalar(first.backend, 0) };
    },
    update: (grads) =>
      scope(() => {
        const norm = globalNorm(grads);
        const coef = minimum(div(maxNorm, add(norm, 1e-6)), 1);
        const [updates] = zipMapTensors("clipByGlobalNorm", [grads], 1, ([g]) => [mul(g, coef)]);
        return { updates: updates as typeof grads, state: { norm } };
      }),
  };
};
