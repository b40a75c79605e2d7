/**
 * The one table of vector-Jacobian rules, keyed by primitive. Each rule is written in the
 * same ops it differentiates, so every backend shares one set of gradients; `needs[i]` says
 * whether input i depends on the parameters, and a rule returns null for the others (a frozen
 * operand costs nothing). Fused ops bring their own rule through customVjp ("custom").
 */
import {
  add,
  broadcastTo,
  compare,
  cumsum,
  div,
  equal,
  exp,
  gather,
  log,
  matmul,
  mul,
  neg,
  pad,
  pow,
  reshape,
  scatterAdd,
  sigmoid,
  sign,
  slice,
  square,
  step,
  sub,
  sum,
  transpose,
  unbroadcast,
  where,
} from "./ops.ts";
import { softmaxGrad } from "./fused.ts";
import type { Primitive, PrimitiveParams, TapeEntry } from "./tape.ts";
import type { Tensor } from "./tensor.ts";

type Grads = readonly (Tensor | null)[];
type Rule<P extends Primitive> = (g: Tensor, entry: TapeEntry<P>) => Grads;

/** A one-input rule from d out / d x given the input and the output. */
const unary =
  (f: (g: Tensor, x: Tensor, y: Tensor) => Tensor): Rule<Primitive> => (g, { inputs, output }) => [
    f(g, inputs[0], output),
  ];

/**
 * A two-input elementwise rule; each gradient is made only where needed and summed back to its
 * input's shape over the axes broadcasting added.
 */
const binary = (
  da: (g: Tensor, a: Tensor, b: Tensor, out: Tensor) => Tensor,
  db: (g: Tensor, a: Tensor, b: Tensor, out: Tensor) => Tensor,
): Rule<Primitive> =>
(g, { inputs: [a, b], output, needs }) => [
  needs[0] ? unbroadcast(da(g, a, b, output), a.shape) : null,
  needs[1] ? unbroadcast(db(g, a, b, output), b.shape) : null,
];

/** Gradients of both operands of op(a) · op(c) given the product's g, each made only when needed. */
export const matmulGrads = (
  g: Tensor,
  a: Tensor,
  c: Tensor,
  { transposeA: tA, transposeB: tB }: {
    readonly transposeA: boolean;
    readonly transposeB: boolean;
  },
  needs: readonly boolean[],
): Grads => {
  const [ga, gc]: [() => Tensor, () => Tensor] = !tA && !tB
    ? [() => matmul(g, c, { transposeB: true }), () => matmul(a, g, { transposeA: true })]
    : tA && !tB
    ? [() => matmul(c, g, { transposeB: true }), () => matmul(a, g)]
    : !tA && tB
    ? [() => matmul(g, c), () => matmul(g, a, { transposeA: true })]
    : [
      () => matmul(c, g, { transposeA: true, transposeB: true }),
      () => matmul(g, a, { transposeA: true, transposeB: true }),
    ];
  return [needs[0] ? ga() : null, needs[1] ? gc() : null];
};

const matmulRule: Rule<"matmul"> = (g, { inputs: [a, c], needs, params }) =>
  matmulGrads(g, a, c, params, needs);

/** max/min's gradient goes to the operand that won (ties: the first). */
const selectRule = (op: "greaterEqual" | "lessEqual"): Rule<Primitive> => (g, entry) => {
  const firstWins = compare(op, entry.inputs[0], entry.inputs[1]);
  return binary((g) => mul(g, firstWins), (g) => mul(g, sub(1, firstWins)))(g, entry);
};

const rules: { readonly [P in Primitive]: Rule<P> } = {
  reshape: (g, { inputs: [x] }) => [reshape(g, x.shape)],
  transpose: (g, { params: { perm } }) => [transpose(g, perm.map((_, i) => perm.indexOf(i)))],
  slice: (g, { inputs: [x], params: { begin, size } }) => [
    pad(g, x.shape.map((d, i) => [begin[i], d - begin[i] - size[i]] as const)),
  ],
  pad: (g, { inputs: [x], params: { paddings } }) => [slice(g, paddings.map((p) => p[0]), x.shape)],
  concat: (g, { inputs, needs, params: { axis } }) => {
    let at = 0;
    return inputs.map((t, i) => {
      const begin = g.shape.map((_, j) => (j === axis ? at : 0));
      at += t.shape[axis];
      return needs[i] ? slice(g, begin, t.shape) : null;
    });
  },
  broadcastTo: (g, { inputs: [x] }) => [unbroadcast(g, x.shape)],

  neg: unary((g) => neg(g)),
  exp: unary((g, _x, y) => mul(g, y)),
  log: unary((g, x) => div(g, x)),
  sqrt: unary((g, _x, y) => div(mul(g, 0.5), y)),
  rsqrt: unary((g, _x, y) => mul(g, mul(-0.5, mul(y, square(y))))),
  square: unary((g, x) => mul(g, mul(x, 2))),
  abs: unary((g, x) => mul(g, sign(x))),
  sigmoid: unary((g, _x, y) => mul(g, mul(y, sub(1, y)))),
  tanh: unary((g, _x, y) => mul(g, sub(1, square(y)))),
  relu: unary((g, x) => mul(g, step(x))),
  // silu(x) = x · s with s = sigmoid(x); d/dx = s · (1 + x · (1 − s)).
  silu: unary((g, x) => {
    const s = sigmoid(x);
    return mul(g, mul(s, add(1, mul(x, sub(1, s)))));
  }),

  add: binary((g) => g, (g) => g),
  sub: binary((g) => g, (g) => neg(g)),
  mul: binary((g, _a, b) => mul(g, b), (g, a) => mul(g, a)),
  div: binary((g, _a, b) => div(g, b), (g, a, b) => neg(div(mul(g, a), square(b)))),
  maximum: selectRule("greaterEqual"),
  minimum: selectRule("lessEqual"),
  pow: binary(
    (g, a, b) => mul(g, mul(b, pow(a, sub(b, 1)))),
    (g, a, _b, out) => mul(g, mul(out, log(a))),
  ),
  where: (g, { inputs: [a, b], needs, params: { cond } }) => [
    needs[0] ? unbroadcast(where(cond, g, 0), a.shape) : null,
    needs[1] ? unbroadcast(where(cond, 0, g), b.shape) : null,
  ],

  sum: (g, { inputs: [x] }) => [broadcastTo(g, x.shape)],
  // Shared evenly among tied maxima.
  max: (g, { inputs: [x], output, params: { axes } }) => {
    const hits = equal(x, output);
    return [div(mul(hits, g), sum(hits, axes, true))];
  },

  matmul: matmulRule,
  gather: (g, { inputs: [x], params: { indices, axis } }) => [
    scatterAdd(g, indices, axis, x.shape),
  ],
  scatterAdd: (g, { params: { indices, axis } }) => [gather(g, indices, axis)],
  softmax: (g, { output: y }) => [softmaxGrad(y, g)],
  logSoftmax: (g, { output: y }) => [sub(g, mul(exp(y), sum(g, -1, true)))],
  // ∂L/∂x_j = Σ_{k ≥ j} g_k = Σ_k g_k − cumsum(g)_j + g_j
  cumsum: (g) => [add(sub(sum(g, -1, true), cumsum(g)), g)],

  custom: (g, { needs, params: { vjp } }) => vjp(g, needs),
};

/** The gradients of a tape entry's inputs given its output's gradient. */
export const vjpOf = <P extends Primitive>(entry: TapeEntry<P>, g: Tensor): Grads =>
  (rules[entry.primitive] as Rule<P>)(g, entry);

export type { PrimitiveParams };
