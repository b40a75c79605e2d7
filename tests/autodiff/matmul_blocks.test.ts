/**
 * matmul and its VJP on shapes that cross the ts kernel's cache blocks (K > 256, N > 128) and
 * leave ragged register tiles (M, N not multiples of 4), against float64 references.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { valueAndGrad } from "../../lib/autodiff/grad.ts";
import { matmul, mul, sum } from "../../lib/autodiff/ops.ts";
import { scope, type Tensor, tensor, toArraySync } from "../../lib/autodiff/tensor.ts";
import { tsBackend } from "../../lib/tensor/backends.ts";
import { normal, prngKey, split } from "../../lib/random/prng.ts";

const [M, K, N] = [6, 300, 133];

/** Logical element (i, j) of a row-major [rows, cols] buffer, or of its transpose. */
const at = (x: Float32Array, cols: number, transposed: boolean, i: number, j: number): number =>
  transposed ? x[j * cols + i] : x[i * cols + j];

/** C[i, j] = Σ_p A[i, p] B[p, j] in float64 for logical A [m, k], B [k, n]. */
const reference = (
  a: (i: number, p: number) => number,
  b: (p: number, j: number) => number,
  m: number,
  k: number,
  n: number,
): Float64Array => {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a(i, p) * b(p, j);
      out[i * n + j] = s;
    }
  }
  return out;
};

const assertClose = (what: string, got: ArrayLike<number>, want: ArrayLike<number>): void => {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= 1e-4 * (1 + Math.abs(want[i])))) {
      assert.unreachable(`${what}[${i}]: ${got[i]} vs float64 ${want[i]}`);
    }
  }
};

([[false, false], [true, false], [false, true], [true, true]] as const).forEach(([tA, tB]) => {
  test(`[${M}, ${K}] x [${K}, ${N}] transposeA=${tA} transposeB=${tB}: value and gradients`, () => {
    scope(() => {
      const [ka, kb, kw] = split(prngKey((tA ? 1 : 0) + (tB ? 2 : 0)), 3);
      const a = normal(ka, M * K);
      const b = normal(kb, K * N);
      const w = normal(kw, M * N);
      const aCols = tA ? M : K;
      const bCols = tB ? K : N;
      const A = (i: number, p: number) => at(a, aCols, tA, i, p);
      const B = (p: number, j: number) => at(b, bCols, tB, p, j);
      const W = (i: number, j: number) => w[i * N + j];
      const weights = tensor(tsBackend, w, [M, N]);
      const product = (p: { a: Tensor; b: Tensor }) =>
        matmul(p.a, p.b, { transposeA: tA, transposeB: tB });
      const params = {
        a: tensor(tsBackend, a, tA ? [K, M] : [M, K]),
        b: tensor(tsBackend, b, tB ? [N, K] : [K, N]),
      };
      assertClose("value", toArraySync(product(params)), reference(A, B, M, K, N));

      const { grads } = valueAndGrad((p: typeof params) => sum(mul(product(p), weights)))(params);
      // d/dA = W Bᵀ and d/dB = Aᵀ W, stored in each operand's own layout.
      const dA = reference(W, (j, p) => B(p, j), M, N, K);
      const dB = reference((p, i) => A(i, p), W, K, M, N);
      const layout = (g: Float64Array, rows: number, cols: number, transposed: boolean) =>
        transposed
          ? Float64Array.from(
            { length: g.length },
            (_, x) => g[(x % rows) * cols + ((x / rows) | 0)],
          )
          : g;
      assertClose("d/da", toArraySync(grads.a), layout(dA, M, K, tA));
      assertClose("d/db", toArraySync(grads.b), layout(dB, K, N, tB));
    });
  });
});

test.run();
