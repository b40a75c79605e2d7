/**
 * Fused ops of the decoder with hand-written gradients (customVjp): each runs one backend kernel
 * forward and one backward (Kernels: swiglu, rmsNorm, rope, softmaxGrad), where the composed ops
 * took up to a dozen passes over the activations and as many tape entries. They agree with the
 * composed ops to float32 rounding (tests/autodiff/fused.test.ts). Beside them, Adam's moment
 * update, one kernel per tensor for the optimizer (tests/optim/transforms.test.ts).
 */
import {
  add,
  customVjp,
  div,
  mul,
  reshape,
  sigmoid,
  slice,
  sqrt,
  square,
  sub,
  sum,
} from "./ops.ts";
import { assertAlive, fill, Tensor } from "./tensor.ts";
import type { AdamCoefficients } from "../tensor/kernels.ts";
import { fmt, sameShape } from "../tensor/shape.ts";

/** Checks that the tensors are live float32 on one backend; returns their kernels. */
const kernelsOf = (op: string, ...xs: readonly Tensor[]) => {
  xs.forEach((x) => assertAlive(op, x));
  const bad = xs.find((x) => x.dtype !== "float32" || x.backend !== xs[0].backend);
  if (bad) {
    throw new Error(
      `${op}: expected float32 tensors on one backend, got ${xs.map(String).join(", ")}`,
    );
  }
  return xs[0].backend.kernels;
};

/** A float32 tensor of `like`'s backend around a kernel's result. */
const made = (like: Tensor, handle: unknown, shape = like.shape): Tensor =>
  new Tensor(like.backend, handle, shape, "float32");

const swigluOp = customVjp(
  (gate: Tensor, up: Tensor) => ({
    output: made(gate, gate.backend.kernels.swiglu(gate.handle, up.handle, gate.shape)),
    aux: null,
  }),
  ([gate, up], g, needs) => {
    const shape = gate.shape;
    const stacked = gate.backend.kernels.swigluGrad;
    if (!stacked) {
      // d gate = g · up · s · (1 + gate · (1 − s)), d up = g · gate · s, with s = sigmoid(gate).
      const gs = mul(g, sigmoid(gate));
      const slope = add(1, mul(gate, sub(1, sigmoid(gate))));
      return [needs[0] ? mul(mul(gs, up), slope) : null, needs[1] ? mul(gs, gate) : null];
    }
    const both = made(gate, stacked(g.handle, gate.handle, up.handle, shape), [2, ...shape]);
    const part = (i: number) =>
      reshape(slice(both, [i, ...shape.map(() => 0)], [1, ...shape]), shape);
    return [needs[0] ? part(0) : null, needs[1] ? part(1) : null];
  },
);

/** SwiGLU's gate, silu(gate) · up, in one pass each way. */
export const swiglu = (gate: Tensor, up: Tensor): Tensor => {
  kernelsOf("swiglu", gate, up);
  if (!sameShape(gate.shape, up.shape)) {
    throw new Error(`swiglu: gate ${fmt(gate.shape)} and up ${fmt(up.shape)} differ`);
  }
  return swigluOp(gate, up).output;
};

/**
 * RMSNorm over the last axis, weight · x / √(mean(x²) + eps). The weight's gradient (frozen in
 * LoRA training, so rarely asked for) is composed: Σ over rows of g · x / √(mean(x²) + eps).
 */
export const rmsNorm = (x: Tensor, weight: Tensor, eps: number): Tensor => {
  const kernels = kernelsOf("rmsNorm", x, weight);
  if (weight.rank !== 1 || weight.shape[0] !== x.shape[x.rank - 1]) {
    throw new Error(`rmsNorm: weight ${fmt(weight.shape)} does not match x ${fmt(x.shape)}`);
  }
  const normed = (w: Tensor) => made(x, kernels.rmsNorm(x.handle, w.handle, x.shape, eps));
  return customVjp(
    (_x: Tensor, w: Tensor) => ({ output: normed(w), aux: null }),
    (_inputs, g, needs) => [
      needs[0]
        ? made(x, kernels.rmsNormGrad(g.handle, x.handle, weight.handle, x.shape, eps))
        : null,
      needs[1]
        ? sum(
          mul(g, normed(fill(x.backend, weight.shape, 1))),
          x.shape.slice(0, -1).map((_, i) => i),
        )
        : null,
    ],
  )(x, weight).output;
};

/**
 * Rotary embedding of x [B, heads, T, D] by the cos and sin tables [B, T, D] of its positions
 * (rotate-half convention); the tables are constants. With `splitHeads`, x is a projection's
 * output [B, T, heads, D] and the heads move to axis 1 in the same pass (no transpose).
 */
export const rope = (
  x: Tensor,
  cos: Tensor,
  sin: Tensor,
  { splitHeads = false }: { readonly splitHeads?: boolean } = {},
): Tensor => {
  const kernels = kernelsOf("rope", x, cos, sin);
  const [b, t, heads, d] = splitHeads ? x.shape : [x.shape[0], x.shape[2], x.shape[1], x.shape[3]];
  const table = [b, t, d];
  if (x.rank !== 4 || d % 2 !== 0 || !sameShape(cos.shape, table) || !sameShape(sin.shape, table)) {
    const layout = splitHeads ? "[B, T, heads, D]" : "[B, heads, T, D]";
    throw new Error(
      `rope: x ${fmt(x.shape)} must be ${layout} (D even) and cos ${fmt(cos.shape)}, ` +
        `sin ${fmt(sin.shape)} [B, T, D]`,
    );
  }
  const turn = (y: Tensor, inverse: boolean) =>
    made(
      y,
      kernels.rope(y.handle, y.shape, cos.handle, sin.handle, inverse, splitHeads),
      inverse ? x.shape : [b, heads, t, d],
    );
  return customVjp(
    (_x: Tensor) => ({ output: turn(x, false), aux: null }),
    (_inputs, g) => [turn(g, true)],
  )(x).output;
};

/**
 * Softmax's backward over the last axis, y · (g − Σ g · y), from its output y: for VJP rules
 * (not itself differentiable).
 */
export const softmaxGrad = (y: Tensor, g: Tensor): Tensor => {
  const kernels = kernelsOf("softmaxGrad", y, g);
  if (!sameShape(y.shape, g.shape)) {
    throw new Error(`softmaxGrad: y ${fmt(y.shape)} and g ${fmt(g.shape)} differ`);
  }
  return made(y, kernels.softmaxGrad(y.handle, g.handle, y.shape));
};

/**
 * Adam's moment update of one tensor for optimizers (not differentiable): [direction, m1, v1]
 * with m1 = b1·m + (1 − b1)·g, v1 = b2·v + (1 − b2)·g² and the bias-corrected direction
 * m1 / (√v1 / rootBias2 + eps) · biasCorrection1 (Kernels.adamMoments). One kernel where the
 * backend has it; else these ops, whose float32 roundings that kernel repeats.
 */
export const adamMoments = (
  g: Tensor,
  m: Tensor,
  v: Tensor,
  c: AdamCoefficients,
): [Tensor, Tensor, Tensor] => {
  const kernels = kernelsOf("adamMoments", g, m, v);
  if (!sameShape(g.shape, m.shape) || !sameShape(g.shape, v.shape)) {
    throw new Error(`adamMoments: g ${fmt(g.shape)}, m ${fmt(m.shape)}, v ${fmt(v.shape)} differ`);
  }
  if (kernels.adamMoments) {
    const [direction, m1, v1] = kernels.adamMoments(g.handle, m.handle, v.handle, c);
    return [made(g, direction), made(g, m1), made(g, v1)];
  }
  const m1 = add(mul(m, c.b1), mul(g, 1 - c.b1));
  const v1 = add(mul(v, c.b2), mul(square(g), 1 - c.b2));
  const direction = mul(div(m1, add(div(sqrt(v1), c.rootBias2), c.eps)), c.biasCorrection1);
  return [direction, m1, v1];
};
