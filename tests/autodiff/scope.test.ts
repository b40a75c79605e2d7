/** Memory discipline: scope frees what it did not return, on success and on throw. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { valueAndGrad } from "../../lib/autodiff/grad.ts";
import { add, logSoftmax, matmul, mean, mul, sub, sum, tanh } from "../../lib/autodiff/ops.ts";
import {
  keep,
  liveTensors,
  scope,
  type Tensor,
  tensor,
  toArraySync,
  zeros,
} from "../../lib/autodiff/tensor.ts";
import { tsBackend } from "../../lib/tensor/backends.ts";
import { meteredBackend } from "../../lib/tensor/metered.ts";
import { treeLeaves, treeZip } from "../../lib/tree.ts";
import { isTensor } from "../../lib/autodiff/grad.ts";
import { normal, prngKey, split } from "../../lib/random/prng.ts";

interface Params {
  readonly w: Tensor;
  readonly b: Tensor;
}

const [kx, kw] = split(prngKey(3));
const x = tensor(tsBackend, normal(kx, 8 * 4), [8, 4]);
const labels = [0, 1, 2, 0, 1, 2, 0, 1];
const oneHot = tensor(tsBackend, labels.flatMap((l) => [0, 1, 2].map((c) => (c === l ? 1 : 0))), [
  8,
  3,
]);

/** Mean negative log-likelihood of a linear classifier over 3 classes. */
const loss = (p: Params): Tensor =>
  mul(mean(sum(mul(logSoftmax(add(matmul(x, p.w), p.b)), oneHot), -1)), -1);

const sgdStep = (p: Params, lr: number): { params: Params; loss: Tensor } =>
  scope(() => {
    const { value, grads } = valueAndGrad(loss)(p);
    const params = treeZip([p, grads], isTensor, ([w, g]) => sub(w, mul(g, lr))) as Params;
    return { params, loss: value };
  });

test("a 1,000-step training loop keeps liveTensors() flat", () => {
  let params: Params = {
    w: tensor(tsBackend, normal(kw, 12, 0, 0.1), [4, 3]),
    b: zeros(tsBackend, [3]),
  };
  const first = scope(() => toArraySync(loss(params))[0]);
  const before = liveTensors();
  let last = NaN;
  const counts: number[] = [];
  for (let step = 0; step < 1000; step++) {
    const next = sgdStep(params, 0.1);
    treeLeaves(params, isTensor).forEach((t) => t.dispose());
    params = next.params;
    if (step === 999) last = toArraySync(next.loss)[0];
    next.loss.dispose();
    if (step % 100 === 99) counts.push(liveTensors() - before);
  }
  assert.equal(
    counts,
    counts.map(() => 0),
    `live tensor growth per 100 steps: ${counts.join(", ")}`,
  );
  assert.ok(last < first * 0.8, `the loop should train: loss ${first} -> ${last}`);
});

test("scope frees everything it created when fn throws", () => {
  const before = liveTensors();
  assert.throws(
    () =>
      scope(() => {
        const a = zeros(tsBackend, [2, 2]);
        add(a, 1);
        throw new Error("boom");
      }),
    /boom/,
  );
  assert.is(liveTensors(), before);
});

test("using a disposed tensor throws an error naming the op", () => {
  let freed: Tensor | null = null;
  scope(() => {
    freed = zeros(tsBackend, [2]);
    return null;
  });
  const t = freed as unknown as Tensor;
  assert.ok(t.disposed);
  assert.throws(() => add(t, 1), /add: input Tensor\(ts, float32, \[2\]\) was already disposed/);
  assert.throws(() => toArraySync(t), /toArraySync: input .* already disposed/);
});

test("tensors returned in arrays and records survive; the rest are freed", () => {
  const before = liveTensors();
  const out = scope(() => {
    const a = zeros(tsBackend, [2]);
    const b = add(a, 1);
    const c = mul(b, 2);
    const d = sub(c, 1);
    return { pair: [b, { deep: d }], label: "kept" };
  });
  const [b, rec] = out.pair as [Tensor, { deep: Tensor }];
  assert.ok(!b.disposed && !rec.deep.disposed);
  assert.equal(Array.from(toArraySync(rec.deep)), [1, 1]);
  assert.is(liveTensors(), before + 2, "only the two returned tensors remain");
  b.dispose();
  rec.deep.dispose();
  assert.is(liveTensors(), before);
});

test("nested scopes hand returned tensors to the enclosing scope; keep() opts out", () => {
  const before = liveTensors();
  let kept: Tensor | null = null;
  let handedUp: Tensor | null = null;
  scope(() => {
    handedUp = scope(() => add(zeros(tsBackend, [1]), 1));
    kept = keep(zeros(tsBackend, [1]));
    return null;
  });
  assert.ok(
    (handedUp as unknown as Tensor).disposed,
    "the outer scope frees what the inner returned",
  );
  assert.ok(!(kept as unknown as Tensor).disposed, "keep() survives every scope");
  assert.is(liveTensors(), before + 1);
  (kept as unknown as Tensor).dispose();
});

test("the backward pass frees gradients as they are consumed, not at the end", () => {
  // A chain of L layers h <- tanh(h · w_i) over n values: the forward keeps ~2 tensors a layer
  // for the backward, and the result holds one gradient a layer; a backward that kept every
  // gradient and every rule's temporaries would add ~6 more a layer on top of that.
  const [layers, n] = [24, 1 << 14];
  const { backend, meter } = meteredBackend(tsBackend);
  const h0 = tensor(backend, normal(kx, n), [n]);
  const ws = Array.from(
    { length: layers },
    (_, i) => tensor(backend, normal(split(kw, layers)[i], n), [n]),
  );
  const forward = (params: readonly Tensor[]) => sum(params.reduce((h, w) => tanh(mul(h, w)), h0));
  meter.resetPeak();
  const before = meter.live();
  const held = scope(() => {
    forward(ws);
    return meter.peak() - before; // what the forward alone holds at its end
  });
  meter.resetPeak();
  const { value, grads } = valueAndGrad(forward)(ws);
  const bytes = 4 * n;
  const extra = (meter.peak() - before - held) / bytes - layers;
  assert.ok(extra <= 8, `the backward held ${extra.toFixed(1)} tensors beyond the forward's`);
  [value, ...grads].forEach((t) => t.dispose());
});

test.run();
