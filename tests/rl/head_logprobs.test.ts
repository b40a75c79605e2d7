/** The fused, chunked LM-head log-probs against the plain logits path: values and gradients. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { valueAndGrad } from "../../lib/autodiff/grad.ts";
import { matmul, mul, sum } from "../../lib/autodiff/ops.ts";
import { type Tensor, tensor, toArray } from "../../lib/autodiff/tensor.ts";
import { foldIn, normal, prngKey, randint } from "../../lib/random/prng.ts";
import { loadBackend } from "../../lib/tensor/backends.ts";
import { headTokenLogProbs } from "../../lib/rl/head_logprobs.ts";
import { tokenLogProbsAndEntropy } from "../../lib/rl/logprobs.ts";
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

for (const name of await testBackends()) {
  for (const [chunk, temperature] of [[1, 1], [3, 0.7], [n, 1], [100, 1.3]] as const) {
    test(`${name}: chunk ${chunk}, temperature ${temperature} — values, entropies and gradients`, async () => {
      const backend = await loadBackend(name);
      const params = {
        hidden: tensor(backend, normal(foldIn(key, 2), n * h), [n, h]),
        head: tensor(backend, normal(foldIn(key, 3), v * h), [v, h]),
      };
      const w = tensor(backend, weights, [n]);
      const ids = tensor(backend, targets, [n]);
      const plain = (p: typeof params) => {
        const logits = matmul(p.hidden, p.head, { transposeB: true });
        return tokenLogProbsAndEntropy(logits, ids, temperature);
      };
      const fused = (p: typeof params) =>
        headTokenLogProbs(p.hidden, p.head, targets, temperature, chunk);
      close(await toArray(fused(params).logp), await toArray(plain(params).logp), 1e-5, "logp");
      close(
        await toArray(fused(params).entropy),
        await toArray(plain(params).entropy),
        1e-5,
        "entropy",
      );
      const probe = (f: (p: typeof params) => { logp: Tensor }) => (p: typeof params) =>
        sum(mul(f(p).logp, w));
      const a = valueAndGrad(probe(fused))(params);
      const b = valueAndGrad(probe(plain))(params);
      close(await toArray(a.grads.hidden), await toArray(b.grads.hidden), 1e-5, "d hidden");
      close(await toArray(a.grads.head), await toArray(b.grads.head), 1e-5, "d head");
    });
  }
}

test("bad shapes and targets name the problem", async () => {
  const backend = await loadBackend("ts");
  const hidden = tensor(backend, new Float32Array(6), [2, 3]);
  const head = tensor(backend, new Float32Array(12), [4, 3]);
  assert.throws(() => headTokenLogProbs(hidden, head, Int32Array.from([0])), /do not fit/);
  assert.throws(
    () => headTokenLogProbs(hidden, head, Int32Array.from([0, 4])),
    /target 4 outside \[0, 4\)/,
  );
});

test.run();
