/**
 * The small transformations optimizers are chained from (optax's scale_by_learning_rate,
 * add_decayed_weights), and `sgd`, which is the first of them alone.
 */
import { add, mul } from "../autodiff/ops.ts";
import { scope } from "../autodiff/tensor.ts";
import {
  findState,
  type GradientTransformation,
  learningRateAt,
  type Schedule,
  zipMapTensors,
} from "./transform.ts";

/** The learning-rate scaling's state: the update count its schedule reads. */
export interface LearningRateState {
  /** Updates done so far. */
  readonly count: number;
  /**
   * The rate the latest update applied, lr(count − 1) (before any: lr(0)), which the
   * `learning_rate` metric reports. The next rate is read from the schedule, not from here, so a
   * run resumed with a longer horizon follows its own schedule.
   */
  readonly learningRate: number;
}

const isLearningRateState = (s: unknown): s is LearningRateState =>
  s !== null && typeof s === "object" && typeof (s as LearningRateState).learningRate === "number";

/** updates = −lr(count) · updates: the descent step, a schedule read at the update's index. */
export const scaleByLearningRate = (
  lr: number | Schedule,
): GradientTransformation<LearningRateState> => ({
  init: () => ({ count: 0, learningRate: learningRateAt(lr, 0) }),
  update: (updates, state) =>
    scope(() => {
      const rate = learningRateAt(lr, state.count);
      const [scaled] = zipMapTensors("scaleByLearningRate", [updates], 1, ([u]) => [mul(u, -rate)]);
      return {
        updates: scaled as typeof updates,
        state: { count: state.count + 1, learningRate: rate },
      };
    }),
});

/**
 * The learning rate the update that made `state` applied, read from it (any chain holding a
 * scaleByLearningRate). Read from the state an update returns: when that update is skipped
 * (non-finite), the state is dropped and the next update applies the same rate again.
 */
export const learningRateOf = (state: unknown): number => {
  const found = findState(state, isLearningRateState);
  if (!found) throw new Error("learningRateOf: the optimizer has no scaleByLearningRate");
  return found.learningRate;
};

/** Weight decay keeps no state. */
// deno-lint-ignore ban-types
export type DecayedWeightsState = {};

/** updates + weightDecay · params (decoupled weight decay, before the learning rate). */
export const addDecayedWeights = (
  weightDecay: number,
): GradientTransformation<DecayedWeightsState> => {
  if (!(weightDecay >= 0)) {
    throw new Error(`addDecayedWeights: weightDecay (${weightDecay}) must be >= 0`);
  }
  return {
    init: () => ({}),
    update: (updates, state, params) => {
      if (weightDecay === 0) return { updates, state };
      if (params === undefined) {
        throw new Error("addDecayedWeights: weight decay needs the params in update()");
      }
      return scope(() => {
        const [decayed] = zipMapTensors(
          "addDecayedWeights",
          [updates, params],
          1,
          ([u, p]) => [add(u, mul(p, weightDecay))],
        );
        return { updates: decayed as typeof updates, state };
      });
    },
  };
};

/** Plain stochastic gradient descent: updates = −lr · g. */
export const sgd = (
  { lr }: { readonly lr: number | Schedule },
): GradientTransformation<LearningRateState> => scaleByLearningRate(lr);
