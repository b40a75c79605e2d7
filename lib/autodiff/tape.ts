/**
 * The tape: while `valueAndGrad` traces a function, every op whose inputs depend on the
 * parameters appends its primitive, output, inputs and parameters here; the backward pass looks
 * each primitive's rule up in the one VJP table (vjp.ts).
 */
import type { Shape } from "../tensor/kernels.ts";
import type { Tensor } from "./tensor.ts";

/**
 * Gradients of the inputs given the output's gradient g. `needs[i]` says whether input i
 * depends on the parameters; a rule may skip (return null for) the others, e.g. the frozen
 * base weight of a LoRA layer.
 */
export type Vjp = (g: Tensor, needs: readonly boolean[]) => readonly (Tensor | null)[];

/** What each primitive records besides its inputs and output (its VJP rule reads these). */
export interface PrimitiveParams {
  readonly reshape: null;
  readonly transpose: { readonly perm: readonly number[] };
  readonly slice: { readonly begin: readonly number[]; readonly size: readonly number[] };
  readonly pad: { readonly paddings: readonly (readonly [number, number])[] };
  readonly concat: { readonly axis: number };
  readonly broadcastTo: null;
  readonly neg: null;
  readonly exp: null;
  readonly log: null;
  readonly sqrt: null;
  readonly rsqrt: null;
  readonly square: null;
  readonly abs: null;
  readonly sigmoid: null;
  readonly tanh: null;
  readonly relu: null;
  readonly silu: null;
  readonly add: null;
  readonly sub: null;
  readonly mul: null;
  readonly div: null;
  readonly maximum: null;
  readonly minimum: null;
  readonly pow: null;
  /** The 0/1 condition (no gradient of its own). */
  readonly where: { readonly cond: Tensor };
  /** Reduced axes; the output keeps them with size 1. */
  readonly sum: { readonly axes: readonly number[] };
  readonly max: { readonly axes: readonly number[] };
  readonly matmul: { readonly transposeA: boolean; readonly transposeB: boolean };
  readonly gather: { readonly indices: Tensor; readonly axis: number };
  readonly scatterAdd: { readonly indices: Tensor; readonly axis: number; readonly shape: Shape };
  readonly softmax: null;
  readonly logSoftmax: null;
  readonly cumsum: null;
  /** A fused op's own gradient (customVjp). */
  readonly custom: { readonly vjp: Vjp };
}

export type Primitive = keyof PrimitiveParams;

export interface TapeEntry<P extends Primitive = Primitive> {
  readonly primitive: P;
  readonly output: Tensor;
  readonly inputs: readonly Tensor[];
  readonly needs: readonly boolean[];
  readonly params: PrimitiveParams[P];
}

interface Trace {
  readonly entries: TapeEntry[];
  readonly dependsOnParams: Set<number>;
}

let active: Trace | null = null;

/** Records `output = primitive(inputs; params)` when tracing and some input depends on the parameters. */
export const record = <P extends Primitive>(
  primitive: P,
  output: Tensor,
  inputs: readonly Tensor[],
  params: PrimitiveParams[P],
): Tensor => {
  if (!active) return output;
  const needs = inputs.map((t) => active!.dependsOnParams.has(t.id));
  if (needs.includes(true)) {
    active.dependsOnParams.add(output.id);
    active.entries.push({ primitive, output, inputs, needs, params } as TapeEntry);
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

/** Whether a trace is recording: outside one, nothing needs an intermediate after its op. */
export const isTracing = (): boolean => active !== null;

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
