// Our gradients (lib/autodiff over tfjs-cpu kernels) agree with tfjs's own, where tfjs has them.
// Importing the full @tensorflow/tfjs registers its gradients (and more backends), so this check
// lives in its own file. Each case differentiates sum(f(xs) * w) for a random weight w.
import "@tensorflow/tfjs";
import * as tf from "@tensorflow/tfjs-core";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { valueAndGrad } from "../../lib/autodiff/grad.ts";
import * as ops from "../../lib/autodiff/ops.ts";
import { type Tensor, tensor, toArray } from "../../lib/autodiff/tensor.ts";
import { foldIn, normal, prngKey, uniform } from "../../lib/random/prng.ts";
import { loadBackend } from "../../lib/tensor/backends.ts";
import type { Shape } from "../../lib/tensor/kernels.ts";
import { sizeOf } from "../../lib/tensor/shape.ts";

const backend = await loadBackend("tfjs-cpu");
const tolerance = 1e-5;

interface GradCase {
  readonly name: string;
  readonly shapes: readonly Shape[];
  /** Inputs drawn from [0.2, 3) instead of a standard normal (log, sqrt). */
  readonly positive?: boolean;
  readonly ours: (xs: readonly Tensor[]) => Tensor;
  readonly theirs: (xs: readonly tf.Tensor[]) => tf.Tensor;
}

const cases: readonly GradCase[] = [
  ...[false, true].flatMap((tA) =>
    [false, true].map((tB): GradCase => ({
      name: `matmul transposeA=${tA} transposeB=${tB}`,
      shapes: [tA ? [4, 3] : [3, 4], tB ? [5, 4] : [4, 5]],
      ours: ([a, b]) => ops.matmul(a, b, { transposeA: tA, transposeB: tB }),
      theirs: ([a, b]) => tf.matMul(a, b, tA, tB),
    }))
  ),
  {
    name: "batched matmul",
    shapes: [[2, 3, 4], [2, 4, 5]],
    ours: ([a, b]) => ops.matmul(a, b),
    theirs: ([a, b]) => tf.matMul(a, b),
  },
  {
    name: "softmax",
    shapes: [[3, 6]],
    ours: ([x]) => ops.softmax(x),
    theirs: ([x]) => tf.softmax(x),
  },
  {
    name: "logSoftmax",
    shapes: [[3, 6]],
    ours: ([x]) => ops.logSoftmax(x),
    theirs: ([x]) => tf.logSoftmax(x),
  },
  { name: "exp", shapes: [[3, 4]], ours: ([x]) => ops.exp(x), theirs: ([x]) => tf.exp(x) },
  {
    name: "log",
    shapes: [[3, 4]],
    positive: true,
    ours: ([x]) => ops.log(x),
    theirs: ([x]) => tf.log(x),
  },
  {
    name: "sqrt",
    shapes: [[3, 4]],
    positive: true,
    ours: ([x]) => ops.sqrt(x),
    theirs: ([x]) => tf.sqrt(x),
  },
  {
    name: "sigmoid",
    shapes: [[3, 4]],
    ours: ([x]) => ops.sigmoid(x),
    theirs: ([x]) => tf.sigmoid(x),
  },
  { name: "tanh", shapes: [[3, 4]], ours: ([x]) => ops.tanh(x), theirs: ([x]) => tf.tanh(x) },
  {
    name: "sum over the middle axis",
    shapes: [[2, 3, 4]],
    ours: ([x]) => ops.sum(x, 1),
    theirs: ([x]) => tf.sum(x, 1),
  },
  {
    name: "mean over axes 0 and 2",
    shapes: [[2, 3, 4]],
    ours: ([x]) => ops.mean(x, [0, 2]),
    theirs: ([x]) => tf.mean(x, [0, 2]),
  },
  {
    name: "max over the last axis",
    shapes: [[3, 5]],
    ours: ([x]) => ops.max(x, -1),
    theirs: ([x]) => tf.max(x, -1),
  },
  {
    name: "transpose",
    shapes: [[2, 3, 4]],
    ours: ([x]) => ops.transpose(x, [1, 2, 0]),
    theirs: ([x]) => tf.transpose(x, [1, 2, 0]),
  },
  {
    name: "slice",
    shapes: [[3, 5]],
    ours: ([x]) => ops.slice(x, [1, 1], [2, 3]),
    theirs: ([x]) => tf.slice(x, [1, 1], [2, 3]),
  },
  {
    name: "concat",
    shapes: [[2, 3], [2, 2]],
    ours: (xs) => ops.concat(xs, 1),
    theirs: (xs) => tf.concat([...xs], 1),
  },
  {
    name: "broadcasting add",
    shapes: [[2, 3, 4], [3, 1]],
    ours: ([a, b]) => ops.add(a, b),
    theirs: ([a, b]) => tf.add(a, b),
  },
  {
    name: "broadcasting mul",
    shapes: [[4], [2, 3, 4]],
    ours: ([a, b]) => ops.mul(a, b),
    theirs: ([a, b]) => tf.mul(a, b),
  },
  {
    name: "broadcasting div",
    shapes: [[2, 3, 4], [3, 1]],
    positive: true,
    ours: ([a, b]) => ops.div(a, b),
    theirs: ([a, b]) => tf.div(a, b),
  },
];

const root = prngKey(2504);

/** Relative to the largest magnitude in `want`, as in backends.test.ts. */
const assertClose = (got: ArrayLike<number>, want: ArrayLike<number>, what: string): void => {
  assert.is(got.length, want.length, `${what}: length`);
  const peak = Math.max(...Array.from(want, Math.abs));
  for (let i = 0; i < want.length; i++) {
    if (Math.abs(got[i] - want[i]) > tolerance * Math.max(Math.abs(want[i]), peak)) {
      assert.unreachable(`${what} at ${i}: ours ${got[i]}, tfjs ${want[i]}`);
    }
  }
};

cases.forEach((c, n) => {
  test(`${c.name}: our gradient matches tfjs's`, async () => {
    const key = foldIn(root, n);
    const inputs = c.shapes.map((s, i) =>
      c.positive ? uniform(foldIn(key, i), sizeOf(s), 0.2, 3) : normal(foldIn(key, i), sizeOf(s))
    );
    const outShape = tf.tidy(() =>
      c.theirs(inputs.map((x, i) => tf.tensor(x, [...c.shapes[i]]))).shape
    );
    const weight = normal(foldIn(key, 99), sizeOf(outShape));

    const mine = valueAndGrad((xs: readonly Tensor[]) =>
      ops.sum(ops.mul(c.ours(xs), tensor(backend, weight, outShape)))
    )(inputs.map((x, i) => tensor(backend, x, c.shapes[i])));
    const theirs = tf.tidy(() =>
      tf.valueAndGrads((...xs: tf.Tensor[]) =>
        tf.sum(tf.mul(c.theirs(xs), tf.tensor(weight, outShape)))
      )(
        inputs.map((x, i) => tf.tensor(x, [...c.shapes[i]])),
      )
    );

    assertClose(await toArray(mine.value), await theirs.value.data(), `${c.name} value`);
    for (const [i, g] of theirs.grads.entries()) {
      assertClose(await toArray(mine.grads[i]), await g.data(), `${c.name} d/dx${i}`);
    }
    tf.dispose([theirs.value, ...theirs.grads]);
  });
});

test.run();
