/**
 * The fused ops (lib/autodiff/fused.ts, matmul_add.ts; the LoRA linear layer of lib/nn/linear.ts)
 * against the ops they replace, composed from primitives
 * (values and gradients, on every backend this runtime has), and their gradients against
 * central differences of a float64 loss on the pure-TS backend.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { rmsNorm, rope, softmaxGrad, swiglu } from "../../lib/autodiff/fused.ts";
import {
  add,
  concat,
  div,
  exp,
  matmul,
  mean,
  mul,
  neg,
  reshape,
  rsqrt,
  silu,
  slice,
  softmax,
  square,
  sum,
  transpose,
} from "../../lib/autodiff/ops.ts";
import { valueAndGrad } from "../../lib/autodiff/grad.ts";
import { matmulAdd } from "../../lib/autodiff/matmul_add.ts";
import { applyDropout, linear } from "../../lib/nn/linear.ts";
import {
  scope,
  type Tensor,
  tensor,
  tensorsIn,
  toArray,
  toArraySync,
} from "../../lib/autodiff/tensor.ts";
import { type Backend, loadBackend, tsBackend } from "../../lib/tensor/backends.ts";
import type { Shape } from "../../lib/tensor/kernels.ts";
import { sizeOf } from "../../lib/tensor/shape.ts";
import { foldIn, normal, prngKey, uniform } from "../../lib/random/prng.ts";
import { ropeFrequencies, ropeTables } from "../../lib/nn/rope.ts";
import { testBackends } from "../helpers/backends.ts";

const root = prngKey(20261203);
let draws = 0;
const draw = (shape: Shape, scale = 1): Float32Array =>
  normal(foldIn(root, draws++), sizeOf(shape)).map((v) => v * scale);

// The composed forms the fused ops replace (the decoder's code before them).
const composedRmsNorm = (x: Tensor, w: Tensor, eps: number) =>
  mul(mul(x, rsqrt(add(mean(square(x), -1, true), eps))), w);
const rotateHalf = (x: Tensor) => {
  const d = x.shape[x.rank - 1];
  const begin = (at: number) => x.shape.map((_, i) => (i === x.rank - 1 ? at : 0));
  const size = x.shape.map((s, i) => (i === x.rank - 1 ? d / 2 : s));
  return concat([neg(slice(x, begin(d / 2), size)), slice(x, begin(0), size)], -1);
};
const composedRope = (x: Tensor, cos: Tensor, sin: Tensor) => {
  const [b, t, d] = cos.shape;
  const perHead = (table: Tensor) => reshape(table, [b, 1, t, d]);
  return add(mul(x, perHead(cos)), mul(rotateHalf(x), perHead(sin)));
};

/** A RoPE table pair for B rows of T positions (some left padding: position 0 repeats). */
const tables = (backend: Backend, b: number, t: number, d: number) => {
  const positions = Array.from(
    { length: b },
    (_, i) => Array.from({ length: t }, (_, s) => Math.max(0, s - i)),
  );
  return ropeTables(backend, positions, ropeFrequencies(d, 10000));
};

interface Case {
  readonly name: string;
  /** Inputs to differentiate: name → [shape, values]. */
  readonly inputs: (backend: Backend) => Record<string, readonly [Shape, Float32Array]>;
  readonly fused: (p: Record<string, Tensor>, backend: Backend) => Tensor;
  readonly composed: (p: Record<string, Tensor>, backend: Backend) => Tensor;
}

const gate = draw([2, 3, 40], 3); // wide enough to reach both tails of the sigmoid
const up = draw([2, 3, 40]);
const normIn = draw([2, 5, 12]);
const normWeight = uniform(foldIn(root, draws++), 12, 0.5, 1.5);
const ropeIn = draw([2, 3, 4, 8]);
const scores = draw([2, 3, 7], 2);

const sums = { c: draw([2, 3, 5]), a: draw([2, 3, 4]), b: draw([2, 5, 4]), shared: draw([4, 5]) };
const lora = {
  x: draw([2, 3, 6]),
  w: draw([5, 6]),
  bias: draw([5]),
  a: draw([2, 6]),
  b: draw([5, 2]),
};
const loraInputs = () => ({
  x: [[2, 3, 6], lora.x],
  w: [[5, 6], lora.w],
  bias: [[5], lora.bias],
  a: [[2, 6], lora.a],
  b: [[5, 2], lora.b],
} as const);
const dropoutKey = foldIn(root, 5000);
/** The LoRA linear layer composed: x Wᵀ + bias + scaling · (dropout(x) Aᵀ) Bᵀ. */
const composedLora = (p: Record<string, Tensor>, rate: number) => {
  const input = rate > 0 ? applyDropout(p.x, rate, dropoutKey) : p.x;
  const delta = mul(
    matmul(matmul(input, p.a, { transposeB: true }), p.b, { transposeB: true }),
    2,
  );
  return add(add(matmul(p.x, p.w, { transposeB: true }), p.bias), delta);
};
const fusedLora = (p: Record<string, Tensor>, rate: number) =>
  linear(p.x, { weight: p.w, bias: p.bias }, {
    pair: { A: p.a, B: p.b },
    scaling: 2,
    dropout: rate > 0 ? { rate, key: dropoutKey } : null,
  });

const cases: Case[] = [
  {
    name: "matmulAdd (batched, b transposed)",
    inputs: () => ({ c: [[2, 3, 5], sums.c], a: [[2, 3, 4], sums.a], b: [[2, 5, 4], sums.b] }),
    fused: (p) => matmulAdd(p.c, p.a, p.b, { transposeB: true }),
    composed: (p) => add(p.c, matmul(p.a, p.b, { transposeB: true })),
  },
  {
    name: "matmulAdd (batch folded into a shared b)",
    inputs: () => ({ c: [[2, 3, 5], sums.c], a: [[2, 3, 4], sums.a], b: [[4, 5], sums.shared] }),
    fused: (p) => matmulAdd(p.c, p.a, p.b),
    composed: (p) => add(p.c, matmul(p.a, p.b)),
  },
  {
    name: "linear with LoRA",
    inputs: loraInputs,
    fused: (p) => fusedLora(p, 0),
    composed: (p) => composedLora(p, 0),
  },
  {
    name: "linear with LoRA and dropout",
    inputs: loraInputs,
    fused: (p) => fusedLora(p, 0.3),
    composed: (p) => composedLora(p, 0.3),
  },
  {
    name: "swiglu",
    inputs: () => ({ gate: [[2, 3, 40], gate], up: [[2, 3, 40], up] }),
    fused: (p) => swiglu(p.gate, p.up),
    composed: (p) => mul(silu(p.gate), p.up),
  },
  {
    name: "rmsNorm (x and weight)",
    inputs: () => ({ x: [[2, 5, 12], normIn], w: [[12], normWeight] }),
    fused: (p) => rmsNorm(p.x, p.w, 1e-6),
    composed: (p) => composedRmsNorm(p.x, p.w, 1e-6),
  },
  {
    name: "rope",
    inputs: () => ({ x: [[2, 3, 4, 8], ropeIn] }),
    fused: (p, be) => {
      const { cos, sin } = tables(be, 2, 4, 8);
      return rope(p.x, cos, sin);
    },
    composed: (p, be) => {
      const { cos, sin } = tables(be, 2, 4, 8);
      return composedRope(p.x, cos, sin);
    },
  },
  {
    name: "rope splitting the heads",
    inputs: () => ({ x: [[2, 4, 3, 8], ropeIn] }),
    fused: (p, be) => {
      const { cos, sin } = tables(be, 2, 4, 8);
      return rope(p.x, cos, sin, { splitHeads: true });
    },
    composed: (p, be) => {
      const { cos, sin } = tables(be, 2, 4, 8);
      return composedRope(transpose(p.x, [0, 2, 1, 3]), cos, sin);
    },
  },
  {
    name: "softmax (softmaxGrad in its VJP)",
    inputs: () => ({ x: [[2, 3, 7], scores] }),
    fused: (p) => softmax(p.x),
    // eˣ / Σ eˣ: its gradient comes from the exp, sum and div rules instead.
    composed: (p) => div(exp(p.x), sum(exp(p.x), -1, true)),
  },
];

/** f(params) and the gradients of Σ w ⊙ f(params), read back (WebGPU reads asynchronously). */
const outAndGrads = async (
  backend: Backend,
  c: Case,
  weights: Float32Array,
  via: "fused" | "composed",
) => {
  const made = scope(() => {
    const inputs = Object.fromEntries(
      Object.entries(c.inputs(backend)).map(([k, [shape, v]]) => [k, tensor(backend, v, shape)]),
    );
    const f = (p: Record<string, Tensor>) => {
      const out = c[via](p, backend);
      return sum(mul(out, tensor(backend, weights, out.shape)));
    };
    return { out: c[via](inputs, backend), grads: valueAndGrad(f)(inputs).grads };
  });
  const read = async (t: Tensor) => Array.from(await toArray(t));
  const grads: Record<string, number[]> = {};
  for (const [k, g] of Object.entries(made.grads)) grads[k] = await read(g);
  const out = await read(made.out);
  tensorsIn(made).forEach((t) => t.dispose());
  return { out, grads };
};

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.is(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

const outSize = (c: Case) =>
  scope(() => {
    const p = Object.fromEntries(
      Object.entries(c.inputs(tsBackend)).map(([k, [s, v]]) => [k, tensor(tsBackend, v, s)]),
    );
    return c.fused(p, tsBackend).size;
  });

for (const name of await testBackends()) {
  const backend = await loadBackend(name);
  for (const c of cases) {
    test(`${c.name} on ${name}: value and gradients equal the composed ops'`, async () => {
      const w = normal(foldIn(root, 999), outSize(c));
      const fused = await outAndGrads(backend, c, w, "fused");
      const composed = await outAndGrads(backend, c, w, "composed");
      assert.ok(maxDiff(fused.out, composed.out) < 2e-6, `${c.name}: values differ`);
      for (const k of Object.keys(composed.grads)) {
        const d = maxDiff(fused.grads[k], composed.grads[k]);
        assert.ok(d < 1e-5, `${c.name} d/d${k}: ${d} from the composed gradient`);
      }
    });
  }
}

for (const name of await testBackends()) {
  const backend = await loadBackend(name);
  test(`matmulAdd consuming c on ${name}: the same sum, c disposed, its buffer reused safely`, async () => {
    const made = scope(() => {
      const t = (shape: Shape, v: Float32Array) => tensor(backend, v, shape);
      const want = add(t([2, 3, 5], sums.c), matmul(t([2, 3, 4], sums.a), t([4, 5], sums.shared)));
      const c = t([2, 3, 5], sums.c);
      const got = matmulAdd(c, t([2, 3, 4], sums.a), t([4, 5], sums.shared), { consume: true });
      assert.ok(c.disposed, "c is disposed");
      // A tensor made next may take a freed buffer: it must not be the sum's.
      const next = t([2, 3, 5], new Float32Array(30).fill(7));
      return { want, got, next };
    });
    const [want, got] = [await toArray(made.want), await toArray(made.got)];
    assert.ok(maxDiff(want, got) < 1e-5, "consumed sum");
    assert.ok((await toArray(made.next)).every((v) => v === 7));
    tensorsIn(made).forEach((t) => t.dispose());
  });
}

const EPS = 1e-3;
for (const c of cases) {
  test(`${c.name}: gradient matches central differences (float64 loss)`, async () => {
    const w = normal(foldIn(root, 998), outSize(c));
    const { grads } = await outAndGrads(tsBackend, c, w, "fused");
    const loss = (k: string, at: number, delta: number) =>
      scope(() => {
        const inputs = Object.fromEntries(
          Object.entries(c.inputs(tsBackend)).map(([name, [shape, v]]) => {
            const moved = Float32Array.from(v);
            if (name === k) moved[at] += delta;
            return [name, tensor(tsBackend, moved, shape)];
          }),
        );
        const out = Array.from(toArraySync(c.fused(inputs, tsBackend)));
        return out.reduce((s, v, i) => s + v * w[i], 0);
      });
    for (const [k, [, v]] of Object.entries(c.inputs(tsBackend))) {
      for (let i = 0; i < v.length; i++) {
        const numeric = (loss(k, i, EPS) - loss(k, i, -EPS)) / (2 * EPS);
        const tol = 2e-3 + 1e-2 * Math.abs(numeric);
        assert.ok(
          Math.abs(grads[k][i] - numeric) < tol,
          `${c.name} d/d${k}[${i}]: ${grads[k][i]} against ${numeric}`,
        );
      }
    }
  });
}

test("softmaxGrad is y · (g − Σ g · y) per row", () => {
  scope(() => {
    const y = toArraySync(softmax(tensor(tsBackend, scores, [2, 3, 7])));
    const g = draw([2, 3, 7]);
    const got = toArraySync(
      softmaxGrad(tensor(tsBackend, y, [2, 3, 7]), tensor(tsBackend, g, [2, 3, 7])),
    );
    for (let row = 0; row < 6; row++) {
      let dot = 0;
      for (let j = 0; j < 7; j++) dot += g[row * 7 + j] * y[row * 7 + j];
      for (let j = 0; j < 7; j++) {
        const want = y[row * 7 + j] * (g[row * 7 + j] - dot);
        assert.ok(Math.abs(got[row * 7 + j] - want) < 1e-6);
      }
    }
  });
});

test("fused ops name the mismatched shapes", () => {
  scope(() => {
    const t = (shape: Shape) => tensor(tsBackend, new Float32Array(sizeOf(shape)), shape);
    assert.throws(() => swiglu(t([2, 3]), t([3, 2])), /swiglu: gate \[2, ?3\] and up \[3, ?2\]/);
    assert.throws(() => rmsNorm(t([2, 4]), t([3]), 1e-6), /rmsNorm: weight \[3\]/);
    const { cos, sin } = tables(tsBackend, 1, 2, 8);
    assert.throws(() => rope(t([1, 2, 2, 6]), cos, sin), /rope: x \[1, ?2, ?2, ?6\]/);
    assert.throws(() => softmaxGrad(t([2, 3]), t([2, 4])), /softmaxGrad: y/);
  });
});

test.run();
