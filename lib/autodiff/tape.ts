/**
 * The tape: while `valueAndGrad` traces a function, every op whose inputs depend on the
 * parameters appends its output, inputs and vector-Jacobian product here.
 */
import type { Tensor } from "./tensor.ts";

/**
 * Gradients of the inputs given the output's gradient g. `needs[i]` says whether input i
 * depends on the parameters; a rule may skip (return null for) the others, e.g. the frozen
 * base weight of a LoRA layer.
 */
export type Vjp = (g: Tensor, needs: readonly boolean[]) => readonly (Tensor | null)[];
export interface TapeEntry {
  readonly output: Tensor;
  readonly inputs: readonly Tensor[];
  readonly needs: readonly boolean[];
  readonly vjp: Vjp;
}

interface Trace {
  readonly entries: TapeEntry[];
  readonly dependsOnParams: Set<number>;
}

let active: Trace | null = null;

/** Records `output = op(inputs)` when tracing and some input depends on the parameters. */
export const record = (output: Tensor, inputs: readonly Tensor[], vjp: Vjp): Tensor => {
  if (!active) return output;
  const needs = inputs.map((t) => active!.dependsOnParams.has(t.id));
  if (needs.includes(true)) {
    active.dependsOnParams.add(output.id);
    active.entries.push({ output, inputs, needs, vjp });
  }
  return output;
};

/** Runs `fn` with a fresh trace whose roots are `params`; returns its result and the tape. */
export const traced = <R>(
  params: readonly Tensor[],
  fn: () => R,
): { result: R; tape: TapeEntry[] } => {
  if (active) throw new Error("valueAndGrad: nested differentiation is not supported");
  active = { entries: [], dependsOnParams: new Set(params.map((p) => p.id)) };
  const trace = active;
  try {
    return { result: fn(), tape: trace.entries };
  } finally {
    active = null;
  }
};

/** Runs `fn` without recording (what stopGradient-heavy code such as sampling wants). */
export const untraced = <R>(fn: () => R): R => {
  const saved = active;
  active = null;
  try {
    return fn();
  } finally {
    active = saved;
  }
};
