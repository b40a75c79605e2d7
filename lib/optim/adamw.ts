/**
 * Adam and AdamW as optax builds them: `scaleByAdam` turns gradients into bias-corrected Adam
 * directions m̂ / (√v̂ + ε), and AdamW is chain(scaleByAdam, addDecayedWeights,
 * scaleByLearningRate) — PyTorch's p ← p − lr·wd·p − lr·m̂/(√v̂ + ε). Bias corrections are
 * computed in float64 on the host from the integer step count.
 */
import { adamMoments } from "../autodiff/fused.ts";
import { scope, zeros } from "../autodiff/tensor.ts";
import {
  addDecayedWeights,
  type DecayedWeightsState,
  type LearningRateState,
  scaleByLearningRate,
} from "./scale.ts";
import { chain, type GradientTransformation, type Schedule, zipMapTensors } from "./transform.ts";

/** Adam's moment decay rates and epsilon. */
export interface AdamOptions {
  /** First-moment decay (default 0.9). */
  readonly b1?: number;
  /** Second-moment decay (default 0.999). */
  readonly b2?: number;
  /** Added to the second moment's root (default 1e-8). */
  readonly eps?: number;
}

/** Adam's running moments and update count. */
export interface AdamState {
  /** Updates done so far; the next is update count + 1 for the bias corrections. */
  readonly count: number;
  /** First and second moment estimates, shaped like the params. */
  readonly mu: unknown;
  /** Second moment estimates. */
  readonly nu: unknown;
}

/** Adam's decay rates lie in [0, 1): at 1 a moment never moves. For codecs and checks alike. */
export const isAdamBeta = (b: number): boolean => b >= 0 && b < 1;

/**
 * Optax's scale_by_adam: gradients become bias-corrected mu / (√nu + eps), before weight decay and
 * the learning rate.
 */
export const scaleByAdam = (
  { b1 = 0.9, b2 = 0.999, eps = 1e-8 }: AdamOptions = {},
): GradientTransformation<AdamState> => {
  if (!(isAdamBeta(b1) && isAdamBeta(b2))) {
    throw new Error(`scaleByAdam: betas (${b1}, ${b2}) must lie in [0, 1)`);
  }
  if (!(eps >= 0)) throw new Error(`scaleByAdam: eps (${eps}) must be >= 0`);
  return {
    init: (params) => {
      const [mu, nu] = zipMapTensors(
        "scaleByAdam.init",
        [params],
        2,
        ([p]) => [zeros(p.backend, p.shape), zeros(p.backend, p.shape)],
      );
      return { count: 0, mu, nu };
    },
    update: (grads, state) =>
      scope(() => {
        const t = state.count + 1;
        const coefficients = {
          b1,
          b2,
          eps,
          biasCorrection1: 1 / (1 - b1 ** t),
          rootBias2: Math.sqrt(1 - b2 ** t),
        };
        const [updates, mu, nu] = zipMapTensors(
          "scaleByAdam",
          [grads, state.mu, state.nu],
          3,
          ([g, m, v]) => adamMoments(g, m, v, coefficients),
        );
        return { updates: updates as typeof grads, state: { count: t, mu, nu } };
      }),
  };
};

/** AdamW's settings: Adam's, a learning rate (or schedule) and decoupled weight decay. */
export interface AdamWOptions extends AdamOptions {
  /** A constant learning rate, or a schedule of the update count. */
  readonly lr: number | Schedule;
  /** Hugging Face Trainer's default 0 (PyTorch's own default is 0.01). */
  readonly weightDecay?: number;
}

/** The states of AdamW's three chained transformations. */
export type AdamWState = readonly [AdamState, DecayedWeightsState, LearningRateState];

/**
 * AdamW as Optax composes it: scaleByAdam, then decoupled weight decay, then the (scheduled)
 * learning rate.
 */
export const adamw = (
  { lr, weightDecay = 0, ...adam }: AdamWOptions,
): GradientTransformation<AdamWState> =>
  chain(
    scaleByAdam(adam),
    addDecayedWeights(weightDecay),
    scaleByLearningRate(lr),
  ) as GradientTransformation<AdamWState>;
