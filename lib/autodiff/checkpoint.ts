/**
 * Gradient checkpointing (rematerialisation): `checkpoint(f)(inputs)` computes f's output
 * without keeping any of f's intermediates, and the backward pass runs f again to get them.
 * A training step then holds one tensor per checkpointed block (a decoder layer's input)
 * instead of every activation of every layer, at the cost of one more forward of each block.
 *
 * f must be a pure function of `inputs` and of tensors that do not depend on the parameters
 * (frozen weights, masks): any parameter it reads must be passed in `inputs`, or its gradient
 * through f is lost. Randomness inside f must come from keys fixed outside it (dropout keys
 * are), so the second run draws the same values.
 */
import { valueAndGrad } from "./grad.ts";
import { mul, sum } from "./ops.ts";
import { record, untraced } from "./tape.ts";
import { scope, type Tensor } from "./tensor.ts";

export const checkpoint =
  (f: (inputs: readonly Tensor[]) => Tensor) => (inputs: readonly Tensor[]): Tensor => {
    // Outside a trace `record` is the identity, so this is a plain call that frees early.
    const output = untraced(() => scope(() => f(inputs)));
    return record("custom", output, inputs, {
      vjp: (g, needs) => {
        const wanted = inputs.filter((_, i) => needs[i]);
        // Re-run f with the needed inputs as roots; the vector-Jacobian product of f at g is the
        // gradient of <f(inputs), g>.
        const { value, grads } = valueAndGrad((roots: readonly Tensor[]) => {
          let next = 0;
          const full = inputs.map((x, i) => (needs[i] ? roots[next++] : x));
          return sum(mul(f(full), g));
        })(wanted);
        value.dispose();
        let next = 0;
        return inputs.map((_, i) => (needs[i] ? grads[next++] : null));
      },
    });
  };
