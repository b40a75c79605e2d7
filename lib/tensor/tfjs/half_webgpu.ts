/**
 * 16-bit frozen weights on WebGPU: BF16/F16 bits stay packed two to a u32 in GPU memory (an
 * int32 tensor [rows, ceil(cols / 2)], a row of odd length padded with a zero half), and WGSL
 * programs widen them on the fly inside the matmul and the row gather (embedding lookup), so a
 * 0.5B base costs 1 GB of GPU memory instead of 2. Run through the webgpu backend's
 * runWebGPUProgram, the way tfjs-backend-webgpu's own programs are: tfjs writes the storage
 * bindings and the shape uniforms, a program supplies `main`.
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
  readonly size: boolean;
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
  readonly device: { readonly queue: { submit(buffers: readonly unknown[]): void } };
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

/** Each matmul invocation computes a BLOCK x BLOCK block of out, reusing its loads in registers. */
const BLOCK = 4;
/** BLOCK copies of a piece of WGSL, one per index (the unrolled block). */
const each = (f: (i: number) => string, sep = "\n"): string =>
  Array.from({ length: BLOCK }, (_, i) => f(i)).join(sep);

/**
 * The k loop of one block, unrolled over the block (acc0..acc3 are its rows), accumulating
 * Σ_k A[mr, k] · W(k, nc). Rows and columns past the edge are clamped to the last one (read,
 * never written), so the loop has no branches. Transposed (W is [N, K]): a word holds two
 * consecutive k of a row n, so A is read in pairs, and an odd k's last value (beside a zero pad
 * half) on its own. Plain (W is [K, N]): two words hold the block's four n of a row k.
 */
const blockLoop: Readonly<Record<"transposed" | "plain", string>> = {
  transposed: `
      ${each((c) => `let w${c} = min(n0 + ${c}, n - 1) * words;`)}
      for (var p = 0; p < k / 2; p = p + 1) {
        ${each((c) => `let b${c} = unpackHalves(B[w${c} + p]);`)}
        ${
    each((r) =>
      `let a${r} = vec2<f32>(A[a${r}Row + 2 * p], A[a${r}Row + 2 * p + 1]);
        acc${r} = acc${r} + vec4<f32>(${each((c) => `dot(a${r}, b${c})`, ", ")});`
    )
  }
      }
      if (k % 2 == 1) {
        let last = vec4<f32>(${each((c) => `unpackHalves(B[w${c} + k / 2]).x`, ", ")});
        ${each((r) => `acc${r} = acc${r} + A[a${r}Row + k - 1] * last;`)}
      }`,
  plain: `
      let word = min(n0 / 2, words - 1);
      let nextWord = min(n0 / 2 + 1, words - 1);
      for (var i = 0; i + 1 < k; i = i + 2) {
        let w = vec4<f32>(unpackHalves(B[i * words + word]), unpackHalves(B[i * words + nextWord]));
        let v = vec4<f32>(
          unpackHalves(B[(i + 1) * words + word]),
          unpackHalves(B[(i + 1) * words + nextWord]),
        );
        ${each((r) => `acc${r} = acc${r} + A[a${r}Row + i] * w + A[a${r}Row + i + 1] * v;`)}
      }
      if (k % 2 == 1) {
        let i = k - 1;
        let w = vec4<f32>(unpackHalves(B[i * words + word]), unpackHalves(B[i * words + nextWord]));
        ${each((r) => `acc${r} = acc${r} + A[a${r}Row + i] * w;`)}
      }`,
};

/** out[m, n] = Σ_k A[m, k] · W(k, n) for a packed W, one BLOCK x BLOCK block per invocation. */
const matmulProgram = (
  format: HalfFormat,
  transposeB: boolean,
  m: number,
  n: number,
): HalfProgram => {
  const layout = transposeB ? "transposed" : "plain";
  const blocks = Math.ceil(m / BLOCK) * Math.ceil(n / BLOCK);
  return {
    variableNames: ["A", "B"],
    outputShape: [m, n],
    shaderKey: `tinaHalf_matmul_${layout}_${format}`,
    dispatchLayout: { x: [0, 1] },
    dispatch: [Math.ceil(blocks / WORKGROUP), 1, 1],
    workgroupSize: [WORKGROUP, 1, 1],
    size: false,
    getUserCode: () => `
    ${unpackHalves[format]}
    fn main(index : i32) {
      let rows = uniforms.outShape[0];
      let n = uniforms.outShape[1];
      let k = uniforms.aShape[1];
      let words = uniforms.bShape[1];
      let blocksPerRow = (n + ${BLOCK - 1}) / ${BLOCK};
      if (index >= ((rows + ${BLOCK - 1}) / ${BLOCK}) * blocksPerRow) {
        return;
      }
      let m0 = (index / blocksPerRow) * ${BLOCK};
      let n0 = (index % blocksPerRow) * ${BLOCK};
      ${each((r) => `let a${r}Row = min(m0 + ${r}, rows - 1) * k;`)}
      ${each((r) => `var acc${r} = vec4<f32>(0.0);`)}
      ${blockLoop[layout]}
      ${
      each((r) =>
        each((c) =>
          `if (m0 + ${r} < rows && n0 + ${c} < n) { result[(m0 + ${r}) * n + n0 + ${c}] = acc${r}[${c}]; }`
        )
      )
    }
    }`,
  };
};

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
  const backend = webgpuBackend();
  backend.uploadToGPU(packed.dataId);
  // A submit flushes the upload's staging copy now, instead of keeping every weight's staging
  // copy in host memory until the first kernel runs.
  backend.device.queue.submit([]);
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
  const program = matmulProgram(format, transposeB, flat.shape[0], n);
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
    uploadHalf: (bits, format, shape) => run(() => packHalf(bits, format, shape)),
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
