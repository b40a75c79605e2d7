/**
 * Gradient transformations (optax's design): an optimizer is an `init`/`update` pair over
 * params-shaped trees of tensors, and optimizers compose with `chain`. State is immutable:
 * every `update` returns fresh tensors, and the caller frees the previous state's tensors
 * (`disposeReplaced`) once it has the new one.
 */
import { isTensor } from "../autodiff/grad.ts";
import { add } from "../autodiff/ops.ts";
import { scope, type Tensor, tensorsIn } from "../autodiff/tensor.ts";
import { fmt, sameShape } from "../tensor/shape.ts";
import { treeFlatten, treeUnflatten } from "../tree.ts";

/** The learning rate as a function of the 0-based index of the update being computed. */
export type Schedule = (step: number) => number;

/** A transformation's output: the transformed updates and its next state. */
export interface Updated<P, S> {
  /** The updates, shaped like the params. */
  readonly updates: P;
  /** The transformation's next state. */
  readonly state: S;
}

// Method syntax on purpose: it lets a GradientTransformation<AdamWState> stand where a
// GradientTransformation<unknown> is expected (chain's argument list).
/** Optax's GradientTransformation: an init and a pure update of (grads, state) to (updates, state). */
export interface GradientTransformation<S> {
  /** The state before the first update. */
  init<P>(params: P): S;
  /** `params` is needed only by transformations that read the weights (weight decay). */
  update<P>(grads: P, state: S, params?: P): Updated<P, S>;
}

/** A constant learning rate, or the schedule's value at `step`. */
export const learningRateAt = (lr: number | Schedule, step: number): number =>
  typeof lr === "number" ? lr : lr(step);

/**
 * Walks trees of identical structure leaf by leaf; `f` maps the tensors at one position to
 * `outputs` new tensors, and the result is one tree per output, each shaped like trees[0].
 */
export const zipMapTensors = (
  op: string,
  trees: readonly unknown[],
  outputs: number,
  f: (leaves: Tensor[]) => Tensor[],
): unknown[] => {
  const [first, ...rest] = trees.map((t) => treeFlatten(t, isTensor));
  const others = rest.map((leaves) => new Map(leaves));
  const results = Array.from({ length: outputs }, () => new Map<string, Tensor>());
  first.forEach(([path, leaf]) => {
    const leaves = others.map((m, i) => {
      const v = m.get(path);
      if (!v) throw new Error(`${op}: tree ${i + 1} has no tensor at "${path}"`);
      if (!sameShape(v.shape, leaf.shape)) {
        throw new Error(
          `${op}: "${path}" is ${fmt(leaf.shape)} in tree 0 but ${fmt(v.shape)} in tree ${i + 1}`,
        );
      }
      return v;
    });
    // One scope per leaf: its temporaries are freed before the next leaf makes its own.
    scope(() => f([leaf, ...leaves])).forEach((out, j) => results[j].set(path, out));
  });
  return results.map((r) => treeUnflatten(trees[0], isTensor, r));
};

/** Applies transformations in order, each seeing the previous one's updates. */
export const chain = <T extends readonly GradientTransformation<unknown>[]>(
  ...transforms: T
): GradientTransformation<
  { readonly [K in keyof T]: T[K] extends GradientTransformation<infer S> ? S : never }
> => {
  type States = {
    readonly [K in keyof T]: T[K] extends GradientTransformation<infer S> ? S : never;
  };
  return {
    init: (params) => transforms.map((t) => t.init(params)) as unknown as States,
    // The intermediate updates passed from one transformation to the next are freed as soon as
    // the next has made its own (the scope catches anything else made here).
    update: (grads, state, params) =>
      scope(() => {
        let updates = grads;
        const next = transforms.map((t, i) => {
          const r = t.update(updates, (state as readonly unknown[])[i], params);
          if (updates !== grads) disposeReplaced(updates, [r.updates, r.state, grads]);
          updates = r.updates;
          return r.state;
        });
        return { updates, state: next as unknown as States };
      }),
  };
};

/** The first state, in chain order, that `is` accepts: a chain's state is the array of its parts'. */
export const findState = <S>(state: unknown, is: (s: unknown) => s is S): S | null => {
  if (is(state)) return state;
  if (!Array.isArray(state)) return null;
  for (const part of state) {
    const found = findState(part, is);
    if (found !== null) return found;
  }
  return null;
};

/** params + updates, leaf by leaf. */
export const applyUpdates = <P>(params: P, updates: P): P =>
  zipMapTensors("applyUpdates", [params, updates], 1, ([p, u]) => [add(p, u)])[0] as P;

/**
 * Frees every tensor of `previous` (old params or optimizer state) that `next` does not
 * still hold, so a training loop can rotate values without leaking or double-freeing.
 */
export const disposeReplaced = (previous: unknown, next: unknown): void => {
  const kept = tensorsIn(next);
  tensorsIn(previous).forEach((t) => kept.has(t) || t.dispose());
};
