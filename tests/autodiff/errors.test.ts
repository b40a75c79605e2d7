/** Shape and dtype errors name the op and every shape involved. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { valueAndGrad } from "../../lib/autodiff/grad.ts";
import { add, concat, gather, matmul, mul, reshape } from "../../lib/autodiff/ops.ts";
import { type Tensor, tensor, toScalar, zeros } from "../../lib/autodiff/tensor.ts";
import { tsBackend } from "../../lib/tensor/backends.ts";

const z = (...shape: number[]): Tensor => zeros(tsBackend, shape);

test("toScalar reads a one-value tensor and refuses any other, naming its shape", async () => {
  assert.is(await toScalar(tensor(tsBackend, [2.5], [1, 1])), 2.5);
  await toScalar(z(2)).then(
    () => assert.unreachable("should have thrown"),
    (e: Error) => assert.match(e.message, /toScalar: expected one value, got shape \[2\]/),
  );
});

test("matmul: inner dimensions differ", () => {
  assert.throws(
    () => matmul(z(2, 3), z(4, 5)),
    /matmul: shapes \[2, 3\] and \[4, 5\].*inner dimensions 3 and 4/,
  );
});

test("matmul: the message mentions the transposes in play", () => {
  assert.throws(
    () => matmul(z(2, 3), z(2, 5), { transposeB: true }),
    /matmul: shapes \[2, 3\] and \[2, 5\] \(transposeA=false, transposeB=true\)/,
  );
});

test("matmul: batch dimensions differ", () => {
  assert.throws(
    () => matmul(z(2, 3, 4), z(3, 4, 5)),
    /matmul: shapes \[2, 3, 4\] and \[3, 4, 5\].*batch/,
  );
});

test("add: shapes that do not broadcast", () => {
  assert.throws(() => add(z(2, 3), z(4, 3)), /add: shapes \[2, 3\] and \[4, 3\] do not broadcast/);
  assert.throws(() => mul(z(5), z(2, 4)), /mul: shapes \[5\] and \[2, 4\] do not broadcast/);
});

test("concat: shapes that differ off the axis", () => {
  assert.throws(
    () => concat([z(2, 3), z(2, 4)], 0),
    /concat: shapes \[2, 3\], \[2, 4\] differ off axis 0/,
  );
});

test("reshape: size mismatch names both shapes", () => {
  assert.throws(
    () => reshape(z(2, 3), [4, 2]),
    /reshape: cannot reshape \[2, 3\] \(6 values\) to \[4, 2\]/,
  );
  assert.throws(() => reshape(z(2, 3), [-1, 4]), /reshape: cannot reshape \[2, 3\].* to \[-1, 4\]/);
});

test("gather: float indices are rejected", () => {
  const floatIndices = tensor(tsBackend, [0, 1], [2]);
  assert.throws(
    () => gather(z(3, 2), floatIndices, 0),
    /gather: indices must be int32, got float32/,
  );
});

test("valueAndGrad: a non-scalar loss names its shape", () => {
  assert.throws(
    () => valueAndGrad((w: Tensor) => mul(w, 2))(z(2, 3)),
    /valueAndGrad: f must return a scalar tensor, got \[2, 3\]/,
  );
});

test.run();
