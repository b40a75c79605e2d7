/**
 * AdamW with PyTorch's semantics: decoupled weight decay (p ← p − lr·wd·p) followed by the
 * bias-corrected Adam step p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε). Bias corrections
 * are computed in float64 on the host from the integer step count.
 */
import { add, div, mul, sqrt, square, sub } from "../autodiff/ops.ts";
import { scope, zeros } from "../autodiff/tensor.ts";
import {
  type GradientTransformation,
  learningRateAt,
  type Schedule,
  zipMapTensors,
} from "./transform.ts";

export interface AdamWOptions {
  readonly lr: number | Schedule;
  readonly b1?: number;
  readonly b2?: number;
  readonly eps?: number;
  /** Hugging Face Trainer's default 0 (PyTorch's own default is 0.01). */
  readonly weightDecay?: number;
}

export interface AdamWState {
  /** Updates applied so far; the next update is step count + 1 and uses lr(count). */
  readonly count: number;
  /** First and second moment estimates, shaped like the params. */
  readonly mu: unknown;
  readonly nu: unknown;
}

export const adamw = (
  { lr, b1 = 0.9, b2 = 0.999, eps = 1e-8, weightDecay = 0 }: AdamWOptions,
): GradientTransformation<AdamWState> => {
  if (!(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1)) {
    throw new Error(`adamw: betas (${b1}, ${b2}) must lie in [0, 1)`);
  }
  if (!(eps >= 0 && weightDecay >= 0)) {
    throw new Error(`adamw: eps (${eps}) and weightDecay (${weightDecay}) must be >= 0`);
  }
  return {
    init: (params) => {
      const [mu, nu] = zipMapTensors(
        "adamw.init",
        [params],
        2,
        ([p]) => [zeros(p.backend, p.shape), zeros(p.backend, p.shape)],
      );
      return { count: 0, mu, nu };
    },
    update: (grads, state, params) =>
      scope(() => {
        if (weightDecay !== 0 && params === undefined) {
          throw new Error("adamw: weight decay needs the params in update()");
        }
        const rate = learningRateAt(lr, state.count);
        const t = state.count + 1;
        const stepSize = rate / (1 - b1 ** t);
        const rootBias2 = Math.sqrt(1 - b2 ** t);
        const trees = weightDecay === 0
          ? [grads, state.mu, state.nu]
          : [grads, state.mu, state.nu, params];
        const [updates, mu, nu] = zipMapTensors("adamw", trees, 3, ([g, m, v, p]) => {
          const m1 = add(mul(m, b1), mul(g, 1 - b1));
          const v1 = add(mul(v, b2), mul(square(g), 1 - b2));
          const adam = mul(div(m1, add(div(sqrt(v1), rootBias2), eps)), -stepSize);
          return [p ? sub(adam, mul(p, rate * weightDecay)) : adam, m1, v1];
        });
        return { updates: updates as typeof grads, state: { count: t, mu, nu } };
      }),
  };
};
