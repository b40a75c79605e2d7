/**
 * A byte cap on every tensor a kernel reads or writes. WebGPU binds each tensor as one storage
 * buffer of at most maxStorageBufferBindingSize bytes (often 128 MiB) and tfjs does not check,
 * so an oversize tensor would give wrong numbers silently; here it is an error, raised before
 * the kernel runs, naming the op and the shape.
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { Kernels, Shape } from "../kernels.ts";
import { bytesOf, fmt, matmulShape } from "../shape.ts";

export const withBindingLimit = (
  kernels: Kernels<tf.Tensor>,
  limit: number,
): Kernels<tf.Tensor> => {
  const check = (op: string, what: string, shape: Shape): void => {
    const bytes = bytesOf(shape);
    if (bytes > limit) {
      throw new Error(
        `${kernels.name} ${op}: ${what} ${
          fmt(shape)
        } needs ${bytes} bytes, over the ${limit}-byte ` +
          `limit on one storage binding (maxStorageBufferBindingSize); process it in smaller chunks`,
      );
    }
  };
  const guard = (op: string, inputs: readonly tf.Tensor[], out: Shape, run: () => tf.Tensor) => {
    inputs.forEach((x, i) => check(op, `input ${i}`, x.shape));
    check(op, "output", out);
    return run();
  };
  const k = kernels;
  return {
    ...k,
    upload: (data, shape) => guard("upload", [], shape, () => k.upload(data, shape)),
    // Packed two values per word: half a float32 matrix's bytes.
    ...(k.uploadHalf && {
      uploadHalf: (bits, format, shape) =>
        guard(
          "uploadHalf",
          [],
          [shape[0], Math.ceil(shape[1] / 2)],
          () => k.uploadHalf!(bits, format, shape),
        ),
    }),
    fill: (shape, value, dtype) => guard("fill", [], shape, () => k.fill(shape, value, dtype)),
    cast: (x, shape, from, to) => guard("cast", [x], shape, () => k.cast(x, shape, from, to)),
    unary: (op, x, shape) => guard(op, [x], shape, () => k.unary(op, x, shape)),
    binary: (op, a, aShape, b, bShape, out, dtype) =>
      guard(op, [a, b], out, () => k.binary(op, a, aShape, b, bShape, out, dtype)),
    compare: (op, a, aShape, b, bShape, out) =>
      guard(op, [a, b], out, () => k.compare(op, a, aShape, b, bShape, out)),
    where: (cond, cShape, a, aShape, b, bShape, out) =>
      guard("where", [cond, a, b], out, () => k.where(cond, cShape, a, aShape, b, bShape, out)),
    reduce: (op, x, shape, axes) =>
      guard(
        op,
        [x],
        shape.map((d, i) => (axes.includes(i) ? 1 : d)),
        () => k.reduce(op, x, shape, axes),
      ),
    broadcastTo: (x, shape, out) =>
      guard("broadcastTo", [x], out, () => k.broadcastTo(x, shape, out)),
    matmul: (a, aShape, b, bShape, transposeA, transposeB) =>
      guard(
        "matmul",
        [a, b],
        matmulShape(aShape, bShape, transposeA, transposeB),
        () => k.matmul(a, aShape, b, bShape, transposeA, transposeB),
      ),
    reshape: (x, shape, out) => guard("reshape", [x], out, () => k.reshape(x, shape, out)),
    transpose: (x, shape, perm) =>
      guard("transpose", [x], shape, () => k.transpose(x, shape, perm)),
    slice: (x, shape, begin, size) =>
      guard("slice", [x], size, () => k.slice(x, shape, begin, size)),
    pad: (x, shape, paddings) =>
      guard(
        "pad",
        [x],
        shape.map((d, i) => d + paddings[i][0] + paddings[i][1]),
        () => k.pad(x, shape, paddings),
      ),
    concat: (xs, shapes, axis) =>
      guard(
        "concat",
        xs,
        shapes[0].map((d, i) => (i === axis ? shapes.reduce((s, sh) => s + sh[axis], 0) : d)),
        () => k.concat(xs, shapes, axis),
      ),
    gather: (x, shape, indices, indicesShape, axis) =>
      guard(
        "gather",
        [x, indices],
        [...shape.slice(0, axis), ...indicesShape, ...shape.slice(axis + 1)],
        () => k.gather(x, shape, indices, indicesShape, axis),
      ),
    scatterAdd: (updates, uShape, indices, indicesShape, axis, out) =>
      guard(
        "scatterAdd",
        [updates, indices],
        out,
        () => k.scatterAdd(updates, uShape, indices, indicesShape, axis, out),
      ),
    softmax: (x, shape) => guard("softmax", [x], shape, () => k.softmax(x, shape)),
    logSoftmax: (x, shape) => guard("logSoftmax", [x], shape, () => k.logSoftmax(x, shape)),
    cumsum: (x, shape) => guard("cumsum", [x], shape, () => k.cumsum(x, shape)),
    swiglu: (gate, up, shape) =>
      guard("swiglu", [gate, up], shape, () => k.swiglu(gate, up, shape)),
    rmsNorm: (x, weight, shape, eps) =>
      guard("rmsNorm", [x, weight], shape, () => k.rmsNorm(x, weight, shape, eps)),
    rmsNormGrad: (g, x, weight, shape, eps) =>
      guard("rmsNormGrad", [g, x, weight], shape, () => k.rmsNormGrad(g, x, weight, shape, eps)),
    rope: (x, shape, cos, sin, inverse, splitHeads) =>
      guard("rope", [x, cos, sin], shape, () => k.rope(x, shape, cos, sin, inverse, splitHeads)),
    softmaxGrad: (y, g, shape) =>
      guard("softmaxGrad", [y, g], shape, () => k.softmaxGrad(y, g, shape)),
    matmulAdd: (c, a, aShape, b, bShape, transposeA, transposeB, inPlace) =>
      guard(
        "matmulAdd",
        [c, a, b],
        matmulShape(aShape, bShape, transposeA, transposeB),
        () => k.matmulAdd(c, a, aShape, b, bShape, transposeA, transposeB, inPlace),
      ),
  };
};
