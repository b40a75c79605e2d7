/**
 * The fused, chunked LM-head log-probs against the plain logits path (values and gradients),
 * with the head whole and in row blocks, and against finite differences.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { valueAndGrad } from "../../lib/autodiff/grad.ts";
import { concat, matmul, mul, sum } from "../../lib/autodiff/ops.ts";
import { type Tensor, tensor, toArray } from "../../lib/autodiff/tensor.ts";
import { foldIn, normal, prngKey, randint } from "../../lib/random/prng.ts";
import { type Backend, loadBackend } from "../../lib/tensor/backends.ts";
import { headTokenLogProbs } from "../../lib/rl/head_logprobs.ts";
import { tokenLogProbsAndEntropy } from "../../lib/rl/token_logprobs.ts";
import { testBackends } from "../helpers/backends.ts";

const [n, h, v] = [7, 5, 11];
const key = prngKey(3);
const targets = Int32Array.from({ length: n }, (_, i) => randint(foldIn(key, 100 + i), v));
const weights = normal(foldIn(key, 1), n); // a probe: loss = Σ w · logp

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) => {
  assert.is(a.length, b.length, what);
  const scale = Math.max(1, ...Array.from(b, Math.abs));
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= tol * scale, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
};

/** hidden [n, h] and the [v, h] head as row blocks of the given sizes. */
const makeParams = (backend: Backend, blockSizes: readonly number[]) => {
  const head = normal(foldIn(key, 3), v * h);
  let row = 0;
  return {
    hidden: tensor(backend, normal(foldIn(key, 2), n * h), [n, h]),
    head: blockSizes.map((rows) => {
      const block = tensor(backend, head.slice(row * h, (row + rows) * h), [rows, h]);
      row += rows;
      return block;
    }),
  };
};
type Params = ReturnType<typeof makeParams>;

/** [rows per chunk, temperature, head block sizes] */
const cases: readonly (readonly [number, number, readonly number[]])[] = [
  [1, 1, [v]],
  [3, 0.7, [v]],
  [n, 1, [v]],
  [100, 1.3, [v]],
  [1, 1, [4, 4, 3]],
  [3, 0.7, [5, 6]],
  [100, 1.3, [2, 6, 3]],
];

for (const name of await testBackends()) {
  for (const [chunk, temperature, blocks] of cases) {
    test(`${name}: chunk ${chunk}, temperature ${temperature}, head blocks ${blocks} — values, entropies and gradients`, async () => {
      const backend = await loadBackend(name);
      const params = makeParams(backend, blocks);
      const w = tensor(backend, weights, [n]);
      const ids = tensor(backend, targets, [n]);
      const plain = (p: Params) => {
        const logits = matmul(p.hidden, concat(p.head, 0), { transposeB: true });
        return tokenLogProbsAndEntropy(logits, ids, temperature);
      };
      const fused = (p: Params) => headTokenLogProbs(p.hidden, p.head, targets, temperature, chunk);
      close(await toArray(fused(params).logp), await toArray(plain(params).logp), 1e-5, "logp");
      close(
        await toArray(fused(params).entropy),
        await toArray(plain(params).entropy),
        1e-5,
        "entropy",
      );
      const probe = (f: (p: Params) => { logp: Tensor }) => (p: Params) => sum(mul(f(p).logp, w));
      const a = valueAndGrad(probe(fused))(params);
      const b = valueAndGrad(probe(plain))(params);
      close(await toArray(a.grads.hidden), await toArray(b.grads.hidden), 1e-5, "d hidden");
      for (const [i, block] of a.grads.head.entries()) {
        close(await toArray(block), await toArray(b.grads.head[i]), 1e-5, `d head block ${i}`);
      }
    });
  }
}

test("ts: gradients of a three-block head match central finite differences", async () => {
  const backend = await loadBackend("ts");
  const params = makeParams(backend, [4, 4, 3]);
  const w = tensor(backend, weights, [n]);
  const loss = (p: Params) =>
    sum(mul(headTokenLogProbs(p.hidden, p.head, targets, 0.8, 3).logp, w));
  const { grads } = valueAndGrad(loss)(params);
  const eps = 1e-2;
  for (const [block, index] of [[0, 5], [1, 17], [2, 11]] as const) {
    const host = await toArray(params.head[block]) as Float32Array;
    const at = (delta: number) => {
      const moved = host.slice();
      moved[index] += delta;
      const head = params.head.map((t, i) => (i === block ? tensor(backend, moved, t.shape) : t));
      return toArray(loss({ ...params, head }));
    };
    const numeric = ((await at(eps))[0] - (await at(-eps))[0]) / (2 * eps);
    const analytic = (await toArray(grads.head[block]))[index];
    assert.ok(
      Math.abs(numeric - analytic) < 1e-3,
      `block ${block}[${index}]: ${numeric} vs ${analytic}`,
    );
  }
});

test("bad shapes and targets name the problem", async () => {
  const backend = await loadBackend("ts");
  const hidden = tensor(backend, new Float32Array(6), [2, 3]);
  const head = tensor(backend, new Float32Array(12), [4, 3]);
  assert.throws(() => headTokenLogProbs(hidden, [head], Int32Array.from([0])), /do not fit/);
  assert.throws(() => headTokenLogProbs(hidden, [], Int32Array.from([0, 1])), /do not fit/);
  assert.throws(
    () => headTokenLogProbs(hidden, [head], Int32Array.from([0, 4])),
    /target 4 outside \[0, 4\)/,
  );
});

test.run();
