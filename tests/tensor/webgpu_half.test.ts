/**
 * WebGPU keeps 16-bit weights packed two to a u32 (half the GPU bytes of float32) and its WGSL
 * programs widen them inside matmul and the row gather: the same values as the pure-TS
 * backend's 16-bit path, for BF16 and F16, both transposeB cases, batched and odd shapes.
 * Runs where WebGPU has an adapter (Deno; software Vulkan in CI), skipped elsewhere.
 */
import * as tf from "@tensorflow/tfjs-core";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { encodeBf16, encodeF16, type HalfFormat } from "../../lib/io/half_float.ts";
import { foldIn, normal, prngKey } from "../../lib/random/prng.ts";
import { tsKernels } from "../../lib/tensor/ts/kernels.ts";
import { loadTfjsBackend } from "../../lib/tensor/tfjs/kernels.ts";
import type { Kernels, Shape } from "../../lib/tensor/kernels.ts";
import { sizeOf } from "../../lib/tensor/shape.ts";
import { testBackends } from "../helpers/backends.ts";

const encode: Readonly<Record<HalfFormat, (v: Float32Array) => Uint16Array>> = {
  bf16: encodeBf16,
  f16: encodeF16,
};

const key = prngKey(11);
const values = (seed: number, shape: Shape) => normal(foldIn(key, seed), sizeOf(shape));

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Array.from(a).reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

if ((await testBackends()).includes("webgpu")) {
  const gpu = (await loadTfjsBackend("webgpu")).kernels as Kernels<tf.Tensor>;
  const ts = tsKernels as Kernels<unknown>;

  for (const format of ["bf16", "f16"] as const) {
    // [M, K] · [K, N] or · [N, K]ᵀ; odd K and N exercise the padded last word of a row, and
    // shapes that are not multiples of the 4 x 4 output block its clamped edges.
    const cases = [
      { a: [3, 8], w: [5, 8], transposeB: true },
      { a: [2, 3, 7], w: [9, 7], transposeB: true },
      { a: [4, 7], w: [7, 5], transposeB: false },
      { a: [2, 2, 6], w: [6, 9], transposeB: false },
      // one row (decoding), fewer columns than a block
      { a: [1, 1, 9], w: [3, 9], transposeB: true },
      { a: [1, 5], w: [5, 3], transposeB: false },
    ];
    for (const { a: aShape, w: wShape, transposeB } of cases) {
      test(`${format} matmul [${aShape}] · [${wShape}]${transposeB ? "ᵀ" : ""}: as the ts backend`, async () => {
        const bits = encode[format](values(1, wShape));
        const a = values(2, aShape);
        const outShape = [...aShape.slice(0, -1), transposeB ? wShape[0] : wShape[1]];
        const want = ts.downloadSync!(
          ts.matmul(
            ts.upload(a, aShape),
            aShape,
            ts.uploadHalf!(bits.slice(), format, wShape),
            wShape,
            false,
            transposeB,
          ),
          outShape,
          "float32",
        );
        const w = gpu.uploadHalf!(bits, format, wShape);
        const got = await gpu.download(
          gpu.matmul(gpu.upload(a, aShape), aShape, w, wShape, false, transposeB),
          outShape,
          "float32",
        );
        assert.equal(got.length, want.length);
        assert.ok(maxAbsDiff(got, want) < 1e-5, `max |diff| ${maxAbsDiff(got, want)}`);
      });
    }

    test(`${format} gather rows and download: the ts backend's values exactly`, async () => {
      const shape = [6, 5];
      const bits = encode[format](values(3, shape));
      const w = gpu.uploadHalf!(bits, format, shape);
      const ids = Int32Array.from([4, 0, 5, 4]);
      const want = ts.downloadSync!(
        ts.gather(ts.uploadHalf!(bits.slice(), format, shape), shape, ts.upload(ids, [2, 2]), [
          2,
          2,
        ], 0),
        [2, 2, 5],
        "float32",
      );
      const got = await gpu.download(gpu.gather(w, shape, gpu.upload(ids, [2, 2]), [2, 2], 0), [
        2,
        2,
        5,
      ], "float32");
      assert.equal(Array.from(got), Array.from(want));
      // Kernels without a 16-bit form (here download, add) see the widened values.
      const wide = ts.downloadSync!(ts.uploadHalf!(bits.slice(), format, shape), shape, "float32");
      assert.equal(Array.from(await gpu.download(w, shape, "float32")), Array.from(wide));
      const doubled = gpu.binary("add", w, shape, w, shape, shape, "float32");
      assert.equal(
        Array.from(await gpu.download(doubled, shape, "float32")),
        Array.from(wide, (x) => 2 * x),
      );
    });
  }

  test("widening is exact at the edges: subnormals, signed zeros, infinities, extremes", async () => {
    const edge = Uint16Array.from([
      0x0001,
      0x03ff,
      0x0400,
      0x8000,
      0x7bff,
      0x3c00,
      0x8001,
      0x7c00,
      0xfc00,
      0x0000,
      0x7f7f,
      0x0080,
    ]);
    const shape = [3, 4];
    for (const format of ["bf16", "f16"] as const) {
      const want = ts.downloadSync!(ts.uploadHalf!(edge.slice(), format, shape), shape, "float32");
      const got = await gpu.download(
        gpu.uploadHalf!(edge.slice(), format, shape),
        shape,
        "float32",
      );
      assert.ok(
        Array.from(got).every((x, i) => Object.is(x, want[i])),
        `${format}: ${got} against ${want}`,
      );
    }
  });

  test("packed weights take two bytes a value on the GPU, and dispose frees them", () => {
    const shape = [64, 33];
    const before = tf.memory().numBytes;
    const w = gpu.uploadHalf!(encodeBf16(values(4, shape)), "bf16", shape);
    assert.is(tf.memory().numBytes - before, 64 * 17 * 4); // 33 columns pad to 34 halves
    gpu.dispose(w);
    assert.is(tf.memory().numBytes, before);
  });
}

test.run();
