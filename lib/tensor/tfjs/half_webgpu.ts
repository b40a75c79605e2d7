/**
 * 16-bit frozen weights on WebGPU: BF16/F16 bits stay packed two to a u32 in GPU memory (an
 * int32 tensor [rows, ceil(cols / 2)], odd rows padded with one zero half), and WGSL programs
 * widen them on the fly inside the matmul and the row gather (embedding lookup), so a 0.5B base
 * costs 1 GB of GPU memory instead of 2. Run through the webgpu backend's runWebGPUProgram, the
 * way tfjs-backend-webgpu's own programs are: tfjs writes the storage bindings and the shape
 * uniforms, a program supplies `main`.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { HalfFormat } from "../half.ts";
import type { Kernels, Shape } from "../kernels.ts";
import { sizeOf } from "../shape.ts";

/** What a packed tensor holds: its format and logical [rows, cols] shape. */
export interface PackedHalf {
  readonly format: HalfFormat;
  readonly rows: number;
  readonly cols: number;
}

// Tagged beside the tensor (not wrapped), so binding limits and disposal see a plain tf.Tensor.
const packedInfo = new WeakMap<tf.Tensor, PackedHalf>();

/** The packing of a tensor made by packHalf, or undefined for an ordinary tensor. */
export const packedHalfOf = (t: tf.Tensor): PackedHalf | undefined => packedInfo.get(t);

/** Halves per packed row: cols rounded up to even. */
const halvesPerRow = (cols: number): number => cols + (cols % 2);

/** The u32 words of row-major bits, each row padded to an even count (a view when possible). */
const packedWords = (bits: Uint16Array, rows: number, cols: number): Int32Array => {
  if (cols % 2 === 0 && bits.byteOffset % 4 === 0) {
    return new Int32Array(bits.buffer, bits.byteOffset, (rows * cols) / 2);
  }
  const padded = new Uint16Array(rows * halvesPerRow(cols));
  for (let r = 0; r < rows; r++) {
    padded.set(bits.subarray(r * cols, (r + 1) * cols), r * halvesPerRow(cols));
  }
  return new Int32Array(padded.buffer);
};

/** The subset of tfjs-backend-webgpu's WebGPUProgram that our programs fill in. */
interface HalfProgram {
  readonly variableNames: string[];
  readonly outputShape: number[];
  readonly shaderKey: string;
  readonly dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  readonly workgroupSize: [number, number, number];
  readonly size: true;
  readonly getUserCode: () => string;
}

/** The parts of the webgpu backend instance used here. */
interface WebgpuBackend {
  runWebGPUProgram(
    program: HalfProgram,
    inputs: tf.TensorInfo[],
    dtype: tf.DataType,
  ): tf.TensorInfo;
  uploadToGPU(dataId: tf.DataId): void;
}

const WORKGROUP = 64;

/** Both values of one packed word, low half first. */
const unpackHalves: Readonly<Record<HalfFormat, string>> = {
  bf16: `fn unpackHalves(word : i32) -> vec2<f32> {
      let w = bitcast<u32>(word);
      return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u));
    }`,
  f16: `fn unpackHalves(word : i32) -> vec2<f32> {
      return unpack2x16float(bitcast<u32>(word));
    }`,
};

/** A flat program: one invocation per output element (tfjs spreads large dispatches over y, z). */
const flatProgram = (
  name: string,
  format: HalfFormat,
  variableNames: string[],
  outputShape: number[],
  body: string,
): HalfProgram => ({
  variableNames,
  outputShape,
  shaderKey: `tinaHalf_${name}_${format}`,
  dispatchLayout: { x: outputShape.map((_, i) => i) },
  dispatch: [Math.ceil(sizeOf(outputShape) / WORKGROUP), 1, 1],
  workgroupSize: [WORKGROUP, 1, 1],
  size: true,
  getUserCode: () => `
    ${unpackHalves[format]}
    fn main(index : i32) {
      if (index < uniforms.size) {
        ${body}
      }
    }`,
});

/** The value at row `r`, column `c` of the packed matrix B (words per row: bShape[1]). */
const halfAt = (r: string, c: string): string =>
  `unpackHalves(B[${r} * uniforms.bShape[1] + ${c} / 2])[${c} & 1]`;

/** out[m, n] = Σ_k A[m, k] · W[n, k]: each word of W's row n holds two consecutive k. */
const transposedBody = `
        let n = uniforms.outShape[1];
        let k = uniforms.aShape[1];
        let a = (index / n) * k;
        let b = (index % n) * uniforms.bShape[1];
        var acc = 0.0;
        for (var i = 0; i + 1 < k; i = i + 2) {
          let w = unpackHalves(B[b + i / 2]);
          acc = acc + A[a + i] * w.x + A[a + i + 1] * w.y;
        }
        if (k % 2 == 1) {
          acc = acc + A[a + k - 1] * unpackHalves(B[b + k / 2]).x;
        }
        result[index] = acc;`;

/** out[m, n] = Σ_k A[m, k] · W[k, n]. */
const plainBody = `
        let n = uniforms.outShape[1];
        let k = uniforms.aShape[1];
        let a = (index / n) * k;
        let col = index % n;
        var acc = 0.0;
        for (var i = 0; i < k; i = i + 1) {
          acc = acc + A[a + i] * ${halfAt("i", "col")};
        }
        result[index] = acc;`;

/** out[i, j] = W[indices[i], j], 0 for an index outside W (as tfjs's gather). */
const gatherBody = `
        let cols = uniforms.outShape[1];
        let j = index % cols;
        let r = indices[index / cols];
        if (r >= 0 && r < uniforms.bShape[0]) {
          result[index] = ${halfAt("r", "j")};
        } else {
          result[index] = 0.0;
        }`;

const webgpuBackend = (): WebgpuBackend => tf.backend() as unknown as WebgpuBackend;

const runProgram = (program: HalfProgram, inputs: tf.Tensor[]): tf.Tensor =>
  tf.engine().makeTensorFromTensorInfo(
    webgpuBackend().runWebGPUProgram(program, inputs, "float32"),
  );

/**
 * A [rows, cols] matrix of 16-bit `bits` as a packed int32 tensor on the active webgpu
 * backend, uploaded at once so that no host copy outlives the call.
 */
export const packHalf = (bits: Uint16Array, format: HalfFormat, shape: Shape): tf.Tensor => {
  const [rows, cols] = shape;
  if (shape.length !== 2 || bits.length !== rows * cols) {
    throw new Error(
      `webgpu uploadHalf: ${bits.length} values do not fill a matrix of shape [${shape}]`,
    );
  }
  const packed = tf.tensor(packedWords(bits, rows, cols), [rows, halvesPerRow(cols) / 2], "int32");
  webgpuBackend().uploadToGPU(packed.dataId);
  packedInfo.set(packed, { format, rows, cols });
  return packed;
};

/**
 * a · b (or a · bᵀ) for a packed b, a of shape [...batch, M, K]: batch and rows are one axis
 * to the program. Call inside tf.tidy.
 */
export const matmulHalf = (a: tf.Tensor, b: tf.Tensor, transposeB: boolean): tf.Tensor => {
  const { format, rows, cols } = packedInfo.get(b)!;
  const [k, n] = transposeB ? [cols, rows] : [rows, cols];
  const flat = tf.reshape(a, [a.size / k, k]);
  const program = flatProgram(
    transposeB ? "matmulBt" : "matmul",
    format,
    ["A", "B"],
    [flat.shape[0], n],
    transposeB ? transposedBody : plainBody,
  );
  return tf.reshape(runProgram(program, [flat, b]), [...a.shape.slice(0, -1), n]);
};

/** Rows `indices` (int32, any shape) of a packed b, widened: [...indices.shape, cols]. */
export const gatherHalf = (b: tf.Tensor, indices: tf.Tensor): tf.Tensor => {
  const { format, cols } = packedInfo.get(b)!;
  const flat = tf.reshape(indices, [indices.size]);
  const program = flatProgram("gather", format, ["B", "indices"], [indices.size, cols], gatherBody);
  return tf.reshape(runProgram(program, [b, flat]), [...indices.shape, cols]);
};

/** The float32 [rows, cols] values of a packed b. Call inside tf.tidy. */
export const widenHalf = (b: tf.Tensor): tf.Tensor =>
  gatherHalf(b, tf.range(0, packedInfo.get(b)!.rows, 1, "int32"));

type T = tf.Tensor;

/**
 * `kernels` with 16-bit weights: uploadHalf packs, matmul with a packed right operand and the
 * row gather from one run the programs above, and every other kernel gets packed inputs widened
 * first (correct, not fast: only frozen weights are packed, and only matmul and the embedding
 * lookup read them in a step). `run` runs a function in the backend's tidy scope.
 */
export const withHalfWeights = (kernels: Kernels<T>, run: (f: () => T) => T): Kernels<T> => {
  const isPacked = (x: unknown): x is T => x instanceof tf.Tensor && packedInfo.has(x);
  const widenArgs = (f: (...args: unknown[]) => unknown) => (...args: unknown[]) => {
    const made: T[] = [];
    const widen = (x: unknown): unknown => {
      if (Array.isArray(x)) return x.map(widen);
      if (!isPacked(x)) return x;
      const wide = run(() => widenHalf(x));
      made.push(wide);
      return wide;
    };
    const result = f(...args.map(widen));
    const release = () => made.forEach((t) => t.dispose());
    if (result instanceof Promise) return result.finally(release);
    release();
    return result;
  };
  const widening = Object.fromEntries(
    Object.entries(kernels).map(([name, f]) => [
      name,
      typeof f === "function" && name !== "dispose"
        ? widenArgs(f as (...args: unknown[]) => unknown)
        : f,
    ]),
  ) as unknown as Kernels<T>;
  return {
    ...widening,
    uploadHalf: (bits, format, shape) => run(() => tf.keep(packHalf(bits, format, shape))),
    matmul: (a, aShape, b, bShape, transposeA, transposeB) =>
      // A transposed left operand never meets a weight (products are x · W or x · Wᵀ).
      isPacked(b) && !isPacked(a) && !transposeA
        ? run(() => matmulHalf(a, b, transposeB))
        : widening.matmul(a, aShape, b, bShape, transposeA, transposeB),
    gather: (x, shape, indices, indicesShape, axis) =>
      isPacked(x) && axis === 0
        ? run(() => gatherHalf(x, indices))
        : widening.gather(x, shape, indices, indicesShape, axis),
  };
};
