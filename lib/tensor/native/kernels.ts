/**
 * The "native" backend: the pure-TS backend's buffers and kernels (lib/tensor/ts), with the
 * matrix product on the machine's BLAS through FFI (./blas.ts, ./matmul.ts). Available on Deno
 * and Bun where a CBLAS library loads; 16-bit weights stay 16-bit as on the pure-TS backend, in
 * the decoding kernel's shared memory while it has room (./half_arena.ts), else in a
 * SharedArrayBuffer as there.
 */
import type { Kernels } from "../kernels.ts";
import { HalfMatrix, widenHalf } from "../half.ts";
import { tsKernels } from "../ts/kernels.ts";
import type { Blas } from "./blas.ts";
import { startHalfGemvWorkers } from "./half_gemv.ts";
import { halfInArena } from "./half_arena.ts";
import { nativeMatmul } from "./matmul.ts";
import { nativeMatmulAdd } from "./matmul_add.ts";

type Handle = Float32Array | Int32Array | HalfMatrix;

/**
 * The pure-TS kernels with matmul on `blas`. Starts the decoding product's workers, which load
 * while the model does (else the first product waits ~0.5 s for them).
 */
export const nativeKernels = (blas: Blas): Kernels<Handle> => {
  startHalfGemvWorkers();
  return nativeKernelsOn(blas);
};

/** c + the product, summed into the product's own (fresh) buffer. */
const addInto = (out: Float32Array, c: Float32Array): Float32Array => {
  for (let i = 0; i < out.length; i++) out[i] += c[i];
  return out;
};

const nativeKernelsOn = (blas: Blas): Kernels<Handle> => {
  const matmul: Kernels<Handle>["matmul"] = (a, aShape, b, bShape, transposeA, transposeB) =>
    nativeMatmul(
      blas,
      // A 16-bit left operand is rare (weights are right operands): widened whole.
      a instanceof HalfMatrix ? widenHalf(a) : a as Float32Array,
      aShape,
      b as Float32Array | HalfMatrix,
      bShape,
      transposeA,
      transposeB,
    );
  return {
    ...tsKernels,
    name: "native",
    uploadHalf: (bits, format, shape) =>
      halfInArena(bits, format) ?? tsKernels.uploadHalf!(bits, format, shape),
    matmul,
    // 16-bit operands (a biased projection of the frozen base): this backend's product, then the
    // add; the pure-TS product there made decoding several times slower.
    matmulAdd: (c, a, aShape, b, bShape, transposeA, transposeB, inPlace) =>
      b instanceof HalfMatrix || a instanceof HalfMatrix
        ? addInto(
          matmul(a, aShape, b, bShape, transposeA, transposeB) as Float32Array,
          c as Float32Array,
        )
        : nativeMatmulAdd(
          blas,
          c as Float32Array,
          a as Float32Array,
          aShape,
          b as Float32Array,
          bShape,
          transposeA,
          transposeB,
          inPlace,
        ),
  };
};
