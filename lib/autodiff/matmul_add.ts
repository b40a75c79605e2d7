/**
 * c + op(a) · op(b) as one op (Kernels.matmulAdd): the product accumulates onto c, where a
 * product and an add would make a second output and a pass over both. Differentiable in all
 * three: c's gradient is g itself, a's and b's are matmul's.
 */
import { customVjp, reshape } from "./ops.ts";
import { assertAlive, Tensor } from "./tensor.ts";
import { matmulGrads } from "./vjp.ts";
import { fmt, matmulShape, sameShape } from "../tensor/shape.ts";

export interface MatmulAddOptions {
  readonly transposeA?: boolean;
  readonly transposeB?: boolean;
  /**
   * c is a temporary nothing reads afterwards (nor any VJP rule, as a recorded output): the sum
   * may take over its buffer, and c is disposed.
   */
  readonly consume?: boolean;
}

export const matmulAdd = (
  c: Tensor,
  a: Tensor,
  b: Tensor,
  { consume = false, ...opts }: MatmulAddOptions = {},
): Tensor => {
  const transposes = { transposeA: opts.transposeA ?? false, transposeB: opts.transposeB ?? false };
  [c, a, b].forEach((t) => assertAlive("matmulAdd", t));
  const shape = matmulShape(a.shape, b.shape, transposes.transposeA, transposes.transposeB);
  const bad = [c, a, b].find((t) => t.dtype !== "float32" || t.backend !== a.backend);
  if (bad || !sameShape(c.shape, shape)) {
    throw new Error(
      `matmulAdd: c ${c} must be float32 ${fmt(shape)}, the product's shape, on a and b's backend`,
    );
  }
  // A batched left operand against a shared matrix: fold the batch into rows (as matmul does).
  if (b.rank === 2 && a.rank > 2 && !transposes.transposeA) {
    const rows = (t: Tensor) => reshape(t, [-1, t.shape[t.rank - 1]]);
    const sum = reshape(matmulAdd(rows(c), rows(a), b, { ...transposes, consume }), shape);
    if (consume) c.dispose();
    return sum;
  }
  const product = customVjp(
    (c: Tensor, a: Tensor, b: Tensor) => ({
      output: new Tensor(
        a.backend,
        a.backend.kernels.matmulAdd(
          c.handle,
          a.handle,
          a.shape,
          b.handle,
          b.shape,
          transposes.transposeA,
          transposes.transposeB,
          consume,
        ),
        shape,
        "float32",
      ),
      aux: null,
    }),
    ([, a, b], g, needs) => [
      needs[0] ? g : null,
      ...matmulGrads(g, a, b, transposes, needs.slice(1)),
    ],
  );
  const sum = product(c, a, b).output;
  if (consume) c.dispose();
  return sum;
};
