/**
 * The forward kernels a tensor backend supplies. Backends never compute gradients: the one
 * table of vector-Jacobian rules in lib/autodiff is written in these kernels, so every
 * backend gets the same, tested gradients.
 *
 * Handles are opaque (a Float32Array for the pure-TS backend, a tf.Tensor for tfjs). Shapes
 * travel beside handles and are validated by lib/autodiff before any kernel runs, so a kernel
 * may assume its inputs are well-formed and its `out` shape is right.
 */
import type { HalfFormat } from "./half.ts";

/** A tensor's dimensions, outermost first. */
export type Shape = readonly number[];
/** The element types tensors hold. */
export type DType = "float32" | "int32";
/** Values in host memory: float32 or int32. */
export type HostArray = Float32Array | Int32Array;

/** The elementwise functions of one tensor a backend implements. */
export type UnaryOp =
  | "neg"
  | "exp"
  | "log"
  | "sqrt"
  | "rsqrt"
  | "square"
  | "abs"
  | "sigmoid"
  | "silu"
  | "tanh"
  | "relu"
  | "step"; // 1 where x > 0 else 0: the derivative of relu and of max-style ops
/** The elementwise, broadcasting functions of two tensors. */
export type BinaryOp = "add" | "sub" | "mul" | "div" | "maximum" | "minimum" | "pow";
/** The elementwise comparisons (1 where true, 0 where false). */
export type CompareOp = "greater" | "greaterEqual" | "less" | "lessEqual" | "equal";
/** The reductions over axes. */
export type ReduceOp = "sum" | "max";

/** Adam's scalars for one update of its moments (lib/optim/adamw.ts). */
export interface AdamCoefficients {
  /** First-moment decay. */
  readonly b1: number;
  /** Second-moment decay. */
  readonly b2: number;
  /** Added to the bias-corrected root of the second moment. */
  readonly eps: number;
  /** 1 / (1 − b1ᵗ) at update t. */
  readonly biasCorrection1: number;
  /** √(1 − b2ᵗ) at update t. */
  readonly rootBias2: number;
}

/**
 * What a tensor backend implements: storage (upload, download, dispose) and the primitive kernels
 * autodiff's ops are built from, on opaque handles H.
 */
export interface Kernels<H = unknown> {
  /** The backend's name (one of backendNames). */
  readonly name: string;
  /** Copies host values to the device. */
  upload(data: HostArray, shape: Shape): H;
  /**
   * Present where 16-bit weights stay 16-bit in memory (lib/tensor/half.ts): takes `bits` (not
   * copied: the caller hands them over) as a float32 tensor whose values are widened on use.
   */
  readonly uploadHalf?: (bits: Uint16Array, format: HalfFormat, shape: Shape) => H;
  /** Reads values back to the host. */
  download(h: H, shape: Shape, dtype: DType): Promise<HostArray>;
  /** Present where reading back never waits on a device queue (CPU backends). */
  readonly downloadSync?: (h: H, shape: Shape, dtype: DType) => HostArray;
  /** Frees a handle's memory. */
  dispose(h: H): void;

  /** A new tensor with every element `value`. */
  fill(shape: Shape, value: number, dtype: DType): H;
  /** Converts element types. */
  cast(x: H, shape: Shape, from: DType, to: DType): H;
  /** An elementwise function of one tensor. */
  unary(op: UnaryOp, x: H, shape: Shape): H;
  /** Elementwise with numpy broadcasting; `out` is the broadcast shape. */
  binary(op: BinaryOp, a: H, aShape: Shape, b: H, bShape: Shape, out: Shape, dtype: DType): H;
  /** Elementwise comparison with broadcasting, giving a float32 mask of 0 and 1. */
  compare(op: CompareOp, a: H, aShape: Shape, b: H, bShape: Shape, out: Shape): H;
  /** cond ? a : b elementwise, all three broadcast to `out` (cond is a 0/1 mask). */
  where(cond: H, cShape: Shape, a: H, aShape: Shape, b: H, bShape: Shape, out: Shape): H;
  /** Reduces over `axes` (sorted, unique); the result keeps those axes with size 1. */
  reduce(op: ReduceOp, x: H, shape: Shape, axes: readonly number[]): H;
  /** Repeats along size-1 axes to `out`. */
  broadcastTo(x: H, shape: Shape, out: Shape): H;
  /**
   * [...batch, M, K] x [...batch, K, N] -> [...batch, M, N] (after the optional transposes of
   * the last two axes). b may also be rank 2, shared by every batch entry.
   */
  matmul(a: H, aShape: Shape, b: H, bShape: Shape, transposeA: boolean, transposeB: boolean): H;
  /** The same elements in shape `out`. */
  reshape(x: H, shape: Shape, out: Shape): H;
  /** Axes permuted by `perm`. */
  transpose(x: H, shape: Shape, perm: readonly number[]): H;
  /** The block of `size` at `begin`. */
  slice(x: H, shape: Shape, begin: readonly number[], size: readonly number[]): H;
  /** Zero padding: paddings[i] = [before, after]. */
  pad(x: H, shape: Shape, paddings: readonly (readonly [number, number])[]): H;
  /** Tensors joined along `axis`. */
  concat(xs: readonly H[], shapes: readonly Shape[], axis: number): H;
  /** out[..., i, ...] = x[..., indices[i], ...] along `axis`; indices is an int32 handle. */
  gather(x: H, shape: Shape, indices: H, indicesShape: Shape, axis: number): H;
  /** The adjoint of gather: sums `updates` rows into a zero tensor of shape `out`. */
  scatterAdd(
    updates: H,
    uShape: Shape,
    indices: H,
    indicesShape: Shape,
    axis: number,
    out: Shape,
  ): H;
  /** Numerically stable (log-)softmax over the last axis. */
  softmax(x: H, shape: Shape): H;
  /** Log-softmax over the last axis. */
  logSoftmax(x: H, shape: Shape): H;
  /** Inclusive running sum over the last axis (sampling's inverse CDF on the device). */
  cumsum(x: H, shape: Shape): H;

  // Fused kernels (lib/autodiff/fused.ts gives them gradients): one pass where the composed
  // ops would take several, each with a kernel for its backward.
  /** The SwiGLU gate: silu(gate) · up, elementwise. */
  swiglu(gate: H, up: H, shape: Shape): H;
  /**
   * Both input gradients of swiglu given the output's g, stacked: [2, ...shape] (gate, up).
   * Present where one pass pays for the copies that split them (the pure-TS and native backends);
   * elsewhere the op composes them from other kernels.
   */
  readonly swigluGrad?: (g: H, gate: H, up: H, shape: Shape) => H;
  /** RMSNorm over the last axis: x / √(mean(x²) + eps) · weight; weight is [last]. */
  rmsNorm(x: H, weight: H, shape: Shape, eps: number): H;
  /** The gradient of rmsNorm with respect to x given the output's g. */
  rmsNormGrad(g: H, x: H, weight: H, shape: Shape, eps: number): H;
  /**
   * Rotary embedding, rotate-half convention: x · cos + rotateHalf(x) · sin, with x
   * [B, heads, T, D] and cos, sin [B, T, D] shared by the heads. `inverse` applies the transpose
   * (its gradient; with RoPE's tables, whose two halves repeat, the turn by the negative angle).
   * With `splitHeads` the heads move too: forward, x [B, T, heads, D] (a projection's output)
   * gives [B, heads, T, D]; inverse, x [B, heads, T, D] gives [B, T, heads, D].
   */
  rope(x: H, shape: Shape, cos: H, sin: H, inverse: boolean, splitHeads: boolean): H;
  /** Softmax's backward over the last axis from its output y: y · (g − Σ g · y). */
  softmaxGrad(y: H, g: H, shape: Shape): H;
  /**
   * c + op(a) · op(b), as matmul takes a and b, with c of the product's shape: a product that
   * accumulates (BLAS's beta = 1) instead of a product and an add. `inPlace`: nothing reads c
   * afterwards, so the sum may be written into c's buffer and returned as a second handle to it.
   */
  matmulAdd(
    c: H,
    a: H,
    aShape: Shape,
    b: H,
    bShape: Shape,
    transposeA: boolean,
    transposeB: boolean,
    inPlace: boolean,
  ): H;
  /**
   * Adam's moment update of one tensor, [direction, m1, v1]: m1 = b1·m + (1 − b1)·g,
   * v1 = b2·v + (1 − b2)·g² and direction = m1 / (√v1 / rootBias2 + eps) · biasCorrection1, each
   * step rounded to float32 as the composed ops round it, so the bits are theirs. Present where
   * one pass beats a dozen kernel calls per tensor (the pure-TS and native backends); elsewhere
   * lib/autodiff/fused.ts composes it.
   */
  readonly adamMoments?: (g: H, m: H, v: H, c: AdamCoefficients) => readonly [H, H, H];
  /**
   * Present where buffers can be written in place (the pure-TS backend): copies `src` into `dst`
   * at `offset` along `axis`, mutating `dst`. Only for buffers nothing else reads, such as a
   * preallocated KV cache; never on the autodiff tape.
   */
  readonly writeInto?: (
    dst: H,
    dstShape: Shape,
    src: H,
    srcShape: Shape,
    axis: number,
    offset: number,
  ) => void;
}

/**
 * The tensor backends: pure TypeScript, the same with matmul on a native BLAS (Deno and Bun),
 * and tfjs's cpu, wasm and webgpu.
 */
export type BackendName = "ts" | "native" | "tfjs-cpu" | "tfjs-wasm" | "webgpu";
/** Every backend name, in the order the CLI lists them. */
export const backendNames: readonly BackendName[] = [
  "ts",
  "native",
  "tfjs-cpu",
  "tfjs-wasm",
  "webgpu",
];
