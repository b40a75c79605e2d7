/** Plain stochastic gradient descent: updates = −lr · g. */
import { mul } from "../autodiff/ops.ts";
import { scope } from "../autodiff/tensor.ts";
import {
  type GradientTransformation,
  learningRateAt,
  type Schedule,
  zipMapTensors,
} from "./transform.ts";

export interface SgdState {
  readonly count: number;
}

export const sgd = (
  { lr }: { readonly lr: number | Schedule },
): GradientTransformation<SgdState> => ({
  init: () => ({ count: 0 }),
  update: (grads, state) =>
    scope(() => {
      const rate = learningRateAt(lr, state.count);
      const [updates] = zipMapTensors("sgd", [grads], 1, ([g]) => [mul(g, -rate)]);
      return { updates: updates as typeof grads, state: { count: state.count + 1 } };
    }),
});
