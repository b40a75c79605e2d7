/**
 * Optimizers against closed-form float64 arithmetic: AdamW (bias correction, decoupled weight
 * decay, eps placement, schedules), SGD, global-norm clipping, chain, and state round trips.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { adamMoments } from "../../lib/autodiff/fused.ts";
import {
  liveTensors,
  scope,
  type Tensor,
  tensor,
  toArray,
  toArraySync,
} from "../../lib/autodiff/tensor.ts";
import { type Backend, loadBackend, tsBackend } from "../../lib/tensor/backends.ts";
import type { AdamCoefficients } from "../../lib/tensor/kernels.ts";
import { meteredBackend } from "../../lib/tensor/metered.ts";
import { foldIn, normal, prngKey } from "../../lib/random/prng.ts";
import { testBackends } from "../helpers/backends.ts";
import {
  adamw,
  applyUpdates,
  chain,
  clipByGlobalNorm,
  disposeReplaced,
  globalNorm,
  type GradientTransformation,
  gradNormOf,
  learningRateOf,
  optimStateFromHost,
  optimStateToHost,
  sgd,
} from "../../lib/optim/mod.ts";

interface Params {
  w: Tensor;
  nested: { b: Tensor }[];
}
const params = (w: number[], b: number[]): Params => ({
  w: tensor(tsBackend, w, [w.length]),
  nested: [{ b: tensor(tsBackend, b, [b.length]) }],
});
const values = (p: Params): number[] => [...toArraySync(p.w), ...toArraySync(p.nested[0].b)];
const assertClose = (actual: number[], expected: number[], tol: number, what: string) =>
  actual.forEach((a, i) =>
    assert.ok(
      Math.abs(a - expected[i]) <= tol * Math.max(1, Math.abs(expected[i])),
      `${what}[${i}]: ${a} vs ${expected[i]}`,
    )
  );

/** Runs `steps` updates of `opt` from p0 with the given per-step gradients; returns the params. */
const run = <S>(opt: GradientTransformation<S>, p0: Params, grads: number[][]): Params => {
  let p = p0;
  let state = opt.init(p);
  const split = p0.w.size;
  for (const g of grads) {
    const gt = params(g.slice(0, split), g.slice(split));
    const { updates, state: next } = opt.update(gt, state, p);
    const np = applyUpdates(p, updates);
    disposeReplaced([p, state, gt, updates], [np, next, p0]);
    [p, state] = [np, next];
  }
  disposeReplaced(state, p);
  return p;
};

/** PyTorch's AdamW algorithm as documented, in float64. */
const referenceAdamW = (
  p0: number[],
  grads: number[][],
  { lr, b1, b2, eps, wd }: {
    lr: (step: number) => number;
    b1: number;
    b2: number;
    eps: number;
    wd: number;
  },
): number[] => {
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  grads.forEach((g, k) => {
    const t = k + 1;
    p.forEach((_, i) => {
      p[i] -= lr(k) * wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const mHat = m[i] / (1 - b1 ** t);
      const vHat = v[i] / (1 - b2 ** t);
      p[i] -= lr(k) * mHat / (Math.sqrt(vHat) + eps);
    });
  });
  return p;
};

const P0 = [1, -2, 0.5, 3, -0.25];
const GRADS = [
  [0.5, -1, 0.25, 2, -0.1],
  [0.4, 0.3, -0.2, 1.5, 0.05],
  [-0.1, 0.2, 0.3, -0.4, 0.5],
  [0.2, -0.6, 0.1, 0.9, -0.3],
];

test("one AdamW step by hand: wd shrinks p, then the first Adam step is lr · sign(g)", () => {
  const p = run(adamw({ lr: 0.1, weightDecay: 0.1, eps: 0 }), params([1], [-2]), [[0.5, -3]]);
  assertClose(values(p), [1 - 0.01 - 0.1, -2 + 0.02 + 0.1], 1e-6, "p1");
});

test("several AdamW steps match the float64 reference (weight decay, bias correction)", () => {
  const opts = { b1: 0.8, b2: 0.95, eps: 1e-8, wd: 0.05 };
  const want = referenceAdamW(P0, GRADS, { ...opts, lr: () => 0.01 });
  const got = run(
    adamw({ lr: 0.01, b1: 0.8, b2: 0.95, eps: 1e-8, weightDecay: 0.05 }),
    params(P0.slice(0, 3), P0.slice(3)),
    GRADS,
  );
  assertClose(values(got), want, 1e-6, "AdamW");
});

test("AdamW adds eps after the bias-corrected root, and reads lr(step) from a schedule", () => {
  const small = GRADS.map((g) => g.map((x) => x * 1e-3)); // eps is comparable to sqrt(v̂) here
  const lr = (step: number) => 0.1 * (step + 1);
  const want = referenceAdamW(P0, small, { lr, b1: 0.9, b2: 0.999, eps: 1e-3, wd: 0 });
  const got = run(adamw({ lr, eps: 1e-3 }), params(P0.slice(0, 3), P0.slice(3)), small);
  assertClose(values(got), want, 1e-6, "AdamW with eps 1e-3");
  assert.throws(
    () => {
      const opt = adamw({ lr: 1, weightDecay: 0.1 });
      const p = params([1], [2]);
      opt.update(p, opt.init(p));
    },
    /needs the params/,
  );
});

test("sgd subtracts lr · g", () => {
  const got = run(sgd({ lr: 0.5 }), params(P0.slice(0, 3), P0.slice(3)), GRADS.slice(0, 2));
  assertClose(values(got), P0.map((p, i) => p - 0.5 * (GRADS[0][i] + GRADS[1][i])), 1e-6, "sgd");
});

test("clipByGlobalNorm scales by maxNorm / (norm + 1e-6) only above maxNorm and reports the norm", () => {
  const g = params([3, 0, 0], [4, 0]);
  const clip = clipByGlobalNorm(1);
  const { updates, state } = clip.update(g, clip.init(g));
  assertClose(toArraySync(state.norm) as unknown as number[], [5], 1e-7, "norm");
  assertClose(values(updates), [3, 0, 0, 4, 0].map((x) => x / (5 + 1e-6)), 1e-7, "clipped");
  const loose = clipByGlobalNorm(10);
  assertClose(values(loose.update(g, loose.init(g)).updates), [3, 0, 0, 4, 0], 1e-7, "unclipped");
  assertClose(Array.from(toArraySync(globalNorm([g, null]))), [5], 1e-7, "globalNorm skips null");
  assert.throws(() => clipByGlobalNorm(0), /maxNorm/);
});

test("chain(clip, sgd) feeds clipped gradients to sgd and keeps both states", () => {
  const opt = chain(clipByGlobalNorm(1), sgd({ lr: 2 }));
  const g = params([3, 0, 0], [4, 0]);
  const { updates, state } = opt.update(g, opt.init(g));
  assertClose(values(updates), [-1.2, 0, 0, -1.6, 0], 1e-6, "chained");
  assert.is(state[1].count, 1);
  assertClose(Array.from(toArraySync(gradNormOf(state)!)), [5], 1e-7, "the clip's norm");
  assert.is(gradNormOf(sgd({ lr: 1 }).init(g)), null, "no clip, no norm");
});

test("learningRateOf is the rate the update applied, also after a skipped update", () => {
  const lr = (step: number) => 0.1 * (step + 1);
  const opt = chain(clipByGlobalNorm(100), sgd({ lr }));
  const g = params([1, -2, 0.5], [3, 0.25]);
  // sgd's update is −rate · g, so the rate applied is −update / g.
  const step = (state: ReturnType<typeof opt.init>, grads = g) => {
    const { updates, state: next } = opt.update(grads, state);
    return { applied: -values(updates)[0], logged: learningRateOf(next), next };
  };
  const first = step(opt.init(g));
  assertClose([first.applied, first.logged], [lr(0), lr(0)], 1e-7, "first update");
  // A non-finite update is skipped: the loop drops its state and keeps first.next.
  const skipped = step(first.next, params([NaN, 0, 0], [0, 0]));
  assert.ok(Number.isNaN(skipped.applied), "the skipped update");
  const after = step(first.next);
  assertClose([after.applied, after.logged], [lr(1), lr(1)], 1e-7, "the update after a skip");
  assertClose([learningRateOf(adamw({ lr }).init(g))], [lr(0)], 1e-7, "AdamW before any update");
  assert.throws(() => learningRateOf(clipByGlobalNorm(1).init(g)), /no scaleByLearningRate/);
});

test("optimizer state survives a host round trip, and a resumed run continues identically", async () => {
  const opt = chain(clipByGlobalNorm(1), adamw({ lr: 0.01, weightDecay: 0.01 }));
  const p = params(P0.slice(0, 3), P0.slice(3));
  const g = params(GRADS[0].slice(0, 3), GRADS[0].slice(3));
  const s1 = opt.update(g, opt.init(p), p).state;
  const host = await optimStateToHost(s1);
  assert.is(learningRateOf(host), 0.01, "numbers travel beside the tensors");
  assert.is((host as [unknown, [{ count: number }]])[1][0].count, 1);
  const restored = optimStateFromHost<typeof s1>(tsBackend, host);
  const a = values(applyUpdates(p, opt.update(g, s1, p).updates));
  const b = values(applyUpdates(p, opt.update(g, restored, p).updates));
  assert.equal(a, b);
  assert.not.equal(a, P0);
});

test("a training loop that disposes replaced values does not leak tensors", () => {
  const p0 = params(P0.slice(0, 3), P0.slice(3));
  const before = liveTensors();
  const p = run(chain(clipByGlobalNorm(1), adamw({ lr: 0.01 })), p0, GRADS);
  disposeReplaced(p, null);
  assert.is(liveTensors(), before);
});

/** Gradients over six decades (eps matters at the small end), exact zeros, moments of a run. */
const momentInputs = () => {
  const n = 3000;
  const key = prngKey(20261203);
  const g = normal(foldIn(key, 1), n).map((x, i) => i % 97 === 0 ? 0 : x * 10 ** (-(i % 7)));
  const m = normal(foldIn(key, 2), n).map((x, i) => x * 10 ** (-(i % 5)));
  const v = normal(foldIn(key, 3), n).map((x, i) => x * x * 10 ** (-(i % 9)));
  return { g, m, v };
};
const coefficientsAt = (t: number, b1 = 0.9, b2 = 0.999, eps = 1e-8): AdamCoefficients => ({
  b1,
  b2,
  eps,
  biasCorrection1: 1 / (1 - b1 ** t),
  rootBias2: Math.sqrt(1 - b2 ** t),
});
/** adamMoments on `backend`, read back as [direction, m1, v1]. */
const momentsOn = async (backend: Backend, c: AdamCoefficients): Promise<Float32Array[]> => {
  const { g, m, v } = momentInputs();
  const made = scope(() => {
    const t = (x: Float32Array) => tensor(backend, x, [30, 100]);
    return adamMoments(t(g), t(m), t(v), c);
  });
  const values = await Promise.all(made.map((x) => toArray(x)));
  made.forEach((x) => x.dispose());
  return values as Float32Array[];
};
/** `backend` without its one-pass kernel: the moments composed from elementwise ops. */
const composedAdam = (backend: Backend): Backend => ({
  ...backend,
  kernels: { ...backend.kernels, adamMoments: undefined },
});

for (const name of await testBackends()) {
  test(`Adam's moments in one pass have the composed ops' float32 bits on ${name}`, async () => {
    const backend = await loadBackend(name);
    for (const c of [coefficientsAt(1), coefficientsAt(7, 0.8, 0.95, 1e-3), coefficientsAt(300)]) {
      const fused = await momentsOn(backend, c);
      const composed = await momentsOn(composedAdam(backend), c);
      ["direction", "m1", "v1"].forEach((what, i) => {
        const differs = fused[i].findIndex((x, j) => !Object.is(x, composed[i][j]));
        assert.is(differs, -1, `${what}[${differs}] differs with ${JSON.stringify(c)}`);
      });
    }
  });
}

test("Adam's moments match float64 arithmetic to float32 rounding", async () => {
  const c = coefficientsAt(3);
  const [direction, m1, v1] = await momentsOn(tsBackend, c);
  const { g, m, v } = momentInputs();
  g.forEach((gi, i) => {
    const mi = c.b1 * m[i] + (1 - c.b1) * gi;
    const vi = c.b2 * v[i] + (1 - c.b2) * gi * gi;
    const di = mi * c.biasCorrection1 / (Math.sqrt(vi) / c.rootBias2 + c.eps);
    assertClose([m1[i], v1[i], direction[i]], [mi, vi, di], 1e-6, `moments at ${i}`);
  });
  assert.throws(
    () =>
      scope(() => {
        const t = (n: number) => tensor(tsBackend, new Float32Array(n), [n]);
        adamMoments(t(2), t(2), t(3), c);
      }),
    /adamMoments: g \[2\], m \[2\], v \[3\] differ/,
  );
});

test("the memory meter counts each of the buffers a kernel returns together", () => {
  const { backend, meter } = meteredBackend(tsBackend);
  const t = (x: Float32Array) => tensor(backend, x, [x.length]);
  const inputs = [t(new Float32Array(1000)), t(new Float32Array(1000)), t(new Float32Array(1000))];
  const before = meter.live();
  const [g, m, v] = inputs;
  const outputs = adamMoments(g, m, v, coefficientsAt(1));
  assert.is(meter.live() - before, 3 * 4000);
  [...outputs, ...inputs].forEach((x) => x.dispose());
  assert.is(meter.live(), 0);
});

test.run();
