/** Reverse-mode differentiation over a params tree: JAX's valueAndGrad, in TS. */
import { treeFlatten, treeMap } from "../tree.ts";
import { add, reshape } from "./ops.ts";
import { type TapeEntry, traced } from "./tape.ts";
import { vjpOf } from "./vjp.ts";
import { fill, scope, Tensor } from "./tensor.ts";
import { fmt } from "../tensor/shape.ts";

/** True for a Tensor (the leaf test of param trees). */
export const isTensor = (x: unknown): x is Tensor => x instanceof Tensor;

/**
 * Walks the tape backwards from `output`, returning d output / d t for every tensor id reached.
 * Memory is freed as it goes, not at the end of the step: each rule runs in its own scope, and
 * a gradient made here is disposed once no pending entry refers to it (it was consumed, or
 * summed into another). Tensors made before the walk (activations, parameters) are left alone.
 */
const backprop = (tape: readonly TapeEntry[], output: Tensor): Map<number, Tensor> => {
  const seed = fill(output.backend, output.shape, 1);
  const grads = new Map<number, Tensor>([[output.id, seed]]);
  const holders = new Map<Tensor, number>([[seed, 1]]); // map entries holding each gradient
  const hold = (id: number, t: Tensor) => {
    grads.set(id, t);
    holders.set(t, (holders.get(t) ?? 0) + 1);
  };
  const unhold = (t: Tensor) => holders.set(t, holders.get(t)! - 1);
  const freeIfUnheld = (t: Tensor) => {
    if (t.id < seed.id || (holders.get(t) ?? 0) > 0) return;
    holders.delete(t);
    t.dispose();
  };
  for (let i = tape.length - 1; i >= 0; i--) {
    const entry = tape[i];
    const { output: out, inputs, needs } = entry;
    const g = grads.get(out.id);
    if (!g) continue;
    grads.delete(out.id);
    unhold(g);
    const contributions = scope(() =>
      vjpOf(entry, g).map((gi, j) =>
        gi && needs[j] && gi.shape.length !== inputs[j].shape.length
          ? reshape(gi, inputs[j].shape)
          : needs[j]
          ? gi
          : null
      )
    );
    const done: Tensor[] = [g];
    contributions.forEach((gi, j) => {
      if (!gi) return;
      const x = inputs[j];
      const prev = grads.get(x.id);
      if (prev) {
        unhold(prev);
        done.push(prev, gi);
      }
      hold(x.id, prev ? add(prev, gi) : gi);
    });
    done.forEach(freeIfUnheld);
  }
  return grads;
};

export interface ValueAndGrad<P, A> {
  readonly value: Tensor;
  readonly grads: P;
  readonly aux: A;
}

/**
 * `valueAndGradWithAux(f)(params)` runs f (which returns a scalar loss and any auxiliary
 * tensors/values), and returns the loss, a tree shaped like `params` holding d loss / d leaf,
 * and the aux. Every intermediate tensor is freed.
 */
export const valueAndGradWithAux =
  <P, A>(f: (params: P) => { loss: Tensor; aux: A }): (params: P) => ValueAndGrad<P, A> =>
  (params: P): ValueAndGrad<P, A> =>
    scope(() => {
      const leaves = treeFlatten(params, isTensor).map(([, t]) => t);
      const { result, tape } = traced(leaves, () => f(params));
      const { loss, aux } = result;
      if (!(loss instanceof Tensor) || loss.size !== 1) {
        throw new Error(
          `valueAndGrad: f must return a scalar tensor, got ${
            loss instanceof Tensor ? fmt(loss.shape) : typeof loss
          }`,
        );
      }
      const grads = backprop(tape, loss);
      const gradTree = treeMap(
        params,
        isTensor,
        (p) => grads.get(p.id) ?? fill(p.backend, p.shape, 0),
      ) as P;
      return { value: loss, grads: gradTree, aux };
    });

/**
 * JAX's value_and_grad: f's scalar loss and d loss / d leaf for every tensor of the params tree.
 */
export const valueAndGrad = <P>(
  f: (params: P) => Tensor,
): (params: P) => { value: Tensor; grads: P } => {
  const withAux = valueAndGradWithAux((p: P) => ({ loss: f(p), aux: null }));
  return (params: P): { value: Tensor; grads: P } => {
    const { value, grads } = withAux(params);
    return { value, grads };
  };
};

/** JAX's grad: d f / d leaf for every tensor of the params tree, shaped like it. */
export const grad = <P>(f: (params: P) => Tensor): (params: P) => P => (params: P): P => {
  const { value, grads } = valueAndGrad(f)(params);
  value.dispose();
  return grads;
};
