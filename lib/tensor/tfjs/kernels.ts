/**
 * The tfjs backends (cpu, wasm, webgpu): our forward kernels on tfjs-core ops. tfjs's own
 * gradients are never used; lib/autodiff differentiates these kernels like any other.
 *
 * Each kernel runs its ops inside `tf.tidy` with its tfjs backend active (see engine.ts), so it
 * leaves nothing behind but one new tf.Tensor, which `dispose` frees (tensors that share data,
 * as reshape's output does, are reference-counted by tfjs).
 */
import * as tf from "@tensorflow/tfjs-core";
import { type Backend, capabilitiesOf } from "../backends.ts";
import type { BinaryOp, CompareOp, DType, HostArray, Kernels, Shape, UnaryOp } from "../kernels.ts";
import { bytesOf, matmulShape, sizeOf } from "../shape.ts";
import { simdMatmul } from "../wasm/matmul.ts";
import { withBindingLimit } from "./binding_limit.ts";
import { activate, startTfjsBackend, tfjsBackendInstance, type TfjsBackendName } from "./engine.ts";
import { withHalfWeights } from "./half_webgpu.ts";

type T = tf.Tensor;

const last = (shape: Shape): number => shape[shape.length - 1];

/** P with y · P = rotateHalf(y) = [−y₂, y₁] for rows of d values. Call inside tf.tidy. */
const rotateHalf = (d: number): T => {
  const p = new Float32Array(d * d);
  for (let j = 0; j < d / 2; j++) {
    p[(j + d / 2) * d + j] = -1;
    p[j * d + j + d / 2] = 1;
  }
  return tf.tensor2d(p, [d, d]);
};
/** 1/√(mean(x²) + eps) over the last axis, kept as a size-1 axis. */
const inverseRms = (x: T, eps: number): T => tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps));

const unaryOps: Readonly<Record<UnaryOp, (x: T) => T>> = {
  neg: tf.neg,
  exp: tf.exp,
  log: tf.log,
  sqrt: tf.sqrt,
  rsqrt: tf.rsqrt,
  square: tf.square,
  abs: tf.abs,
  sigmoid: tf.sigmoid,
  silu: (x) => tf.mul(x, tf.sigmoid(x)),
  tanh: tf.tanh,
  relu: tf.relu,
  // Not tf.step, which keeps NaN: ours is 0 wherever x > 0 is false.
  step: (x) => tf.cast(tf.greater(x, 0), "float32"),
};

const binaryOps: Readonly<Record<BinaryOp, (a: T, b: T) => T>> = {
  add: tf.add,
  sub: tf.sub,
  mul: tf.mul,
  div: tf.div,
  maximum: tf.maximum,
  minimum: tf.minimum,
  pow: tf.pow,
};

const compareOps: Readonly<Record<CompareOp, (a: T, b: T) => T>> = {
  greater: tf.greater,
  greaterEqual: tf.greaterEqual,
  less: tf.less,
  lessEqual: tf.lessEqual,
  equal: tf.equal,
};

/** Integer division truncating toward zero, as the ts backend does (tf.div floors int32). */
const truncDiv = (a: T, b: T): T =>
  tf.cast(tf.div(tf.cast(a, "float32"), tf.cast(b, "float32")), "int32");

/** Sums `updates` rows into zeros of shape `out` along `axis`, via a scatter along axis 0. */
const scatterAdd = (updates: T, indices: T, axis: number, out: Shape): T => {
  const outer = sizeOf(out.slice(0, axis));
  const inner = sizeOf(out.slice(axis + 1));
  const n = indices.size;
  const rows = tf.reshape(updates, [outer, n, inner]);
  const byIndex = outer === 1 ? tf.reshape(rows, [n, 1, inner]) : tf.transpose(rows, [1, 0, 2]);
  const summed = tf.scatterND(tf.reshape(indices, [n, 1]), byIndex, [out[axis], outer, inner]);
  return tf.reshape(outer === 1 ? summed : tf.transpose(summed, [1, 0, 2]), [...out]);
};

/**
 * A fresh array of `dtype`. tfjs hands out its CPU buffers themselves, and its CPU cast to
 * float32 relabels an int32 or bool buffer without converting it.
 */
const copy = (data: tf.TypedArray, dtype: DType): HostArray =>
  dtype === "int32" ? new Int32Array(data) : new Float32Array(data);

/** Swaps the last two axes. */
const swapLast = (x: tf.Tensor): tf.Tensor => {
  const perm = x.shape.map((_, i) => i);
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return tf.transpose(x, perm);
};

/**
 * tfjs-wasm runs batched products (attention) through a plain loop at ~1 GFLOP/s, 4-7x slower
 * than our SIMD module including the copies in and out; XNNPACK keeps the 2-D ones.
 */
const prefersSimdMatmul = (name: TfjsBackendName, aShape: Shape): boolean =>
  name === "tfjs-wasm" && sizeOf(aShape.slice(0, -2)) > 1;

const floatData = (x: T): Float32Array => x.dataSync() as Float32Array;

/**
 * Keeps the transpose of each matrix used twice as a transposed right operand, until that
 * matrix is disposed. tfjs-wasm gives a product to XNNPACK only with B untransposed, and
 * XNNPACK repacks every B it has not seen before; weights enter every forward as Wᵀ (x·Wᵀ), so
 * without this each product pays a transpose and a repacking (3-17x the product itself at
 * decoding sizes). The price is one extra copy of each such weight, so the copies stop at
 * `budgetBytes`: wasm memory ends at 4 GB, and a large model needs it for its weights.
 */
export const transposeCache = (budgetBytes: number) => {
  const seenOnce = new WeakSet<T>();
  const kept = new Map<T, T>();
  let keptBytes = 0;
  return {
    /** Bᵀ, from the cache when b has been seen before. */
    transposed: (b: T): T => {
      const known = kept.get(b);
      if (known) return known;
      const bytes = bytesOf(b.shape);
      if (!seenOnce.has(b) || keptBytes + bytes > budgetBytes) {
        seenOnce.add(b);
        return swapLast(b);
      }
      const made = tf.keep(swapLast(b));
      kept.set(b, made);
      keptBytes += bytes;
      return made;
    },
    release: (b: T): void => {
      const known = kept.get(b);
      if (!known) return;
      keptBytes -= bytesOf(known.shape);
      known.dispose();
      kept.delete(b);
    },
    /** Bytes of transposes kept now. */
    keptBytes: () => keptBytes,
  };
};

/** Room for the weights of models up to ~60M parameters; larger ones fill it partly. */
export const TRANSPOSE_CACHE_BYTES = 256 * 1024 * 1024;

export const tfjsKernels = (name: TfjsBackendName): Kernels<T> => {
  const transposes = name === "tfjs-wasm" ? transposeCache(TRANSPOSE_CACHE_BYTES) : null;
  const run = (f: () => T): T => {
    activate(name);
    return tf.tidy(f);
  };
  const downloadSync = (h: T, _shape: Shape, dtype: DType): HostArray => copy(h.dataSync(), dtype);
  const kernels: Kernels<T> = {
    name,
    upload: (data, shape) =>
      run(() =>
        tf.tensor(data.slice(), [...shape], data instanceof Int32Array ? "int32" : "float32")
      ),
    download: async (h, _shape, dtype) => copy(await h.data(), dtype),
    // WebGPU reads back through a mapped buffer, which cannot be waited on synchronously.
    ...(name === "webgpu" ? {} : { downloadSync }),
    dispose: (h) => {
      transposes?.release(h);
      h.dispose();
    },

    fill: (shape, value, dtype) => run(() => tf.fill([...shape], value, dtype)),
    cast: (x, _shape, _from, to) => run(() => tf.cast(x, to)),
    unary: (op, x) => run(() => unaryOps[op](x)),
    binary: (op, a, _aShape, b, _bShape, _out, dtype) =>
      run(() => (op === "div" && dtype === "int32" ? truncDiv(a, b) : binaryOps[op](a, b))),
    compare: (op, a, _aShape, b) => run(() => tf.cast(compareOps[op](a, b), "float32")),
    where: (cond, _cShape, a, _aShape, b) => run(() => tf.where(tf.notEqual(cond, 0), a, b)),
    // Always float32, as lib/autodiff expects (tfjs keeps int32).
    reduce: (op, x, _shape, axes) =>
      run(() => tf.cast((op === "sum" ? tf.sum : tf.max)(x, [...axes], true), "float32")),
    // tf.broadcastTo tiles in JavaScript on wasm; a broadcasting add runs natively everywhere.
    broadcastTo: (x, _shape, out) => run(() => tf.add(tf.zeros([...out], x.dtype), x)),
    // XNNPACK (tfjs-wasm) runs transposed operands 10x slower than a transpose plus a plain product.
    matmul: (a, aShape, b, bShape, transposeA, transposeB) =>
      run(() =>
        prefersSimdMatmul(name, aShape)
          ? tf.tensor(
            simdMatmul(floatData(a), aShape, floatData(b), bShape, transposeA, transposeB),
            matmulShape(aShape, bShape, transposeA, transposeB),
          )
          : tf.matMul(
            transposeA ? swapLast(a) : a,
            transposeB ? (transposes?.transposed(b) ?? swapLast(b)) : b,
          )
      ),
    reshape: (x, _shape, out) => run(() => tf.reshape(x, [...out])),
    transpose: (x, _shape, perm) => run(() => tf.transpose(x, [...perm])),
    slice: (x, _shape, begin, size) => run(() => tf.slice(x, [...begin], [...size])),
    pad: (x, _shape, paddings) => run(() => tf.pad(x, paddings.map(([lo, hi]) => [lo, hi]))),
    concat: (xs, _shapes, axis) => run(() => tf.concat([...xs], axis)),
    gather: (x, _shape, indices, _indicesShape, axis) => run(() => tf.gather(x, indices, axis)),
    scatterAdd: (updates, _uShape, indices, _indicesShape, axis, out) =>
      run(() => scatterAdd(updates, indices, axis, out)),
    softmax: (x) => run(() => tf.softmax(x)),
    logSoftmax: (x) => run(() => tf.logSoftmax(x)),
    cumsum: (x) => run(() => tf.cumsum(x, x.rank - 1)),
    // The fused kernels, composed from tfjs ops (the pure-TS backend has one-pass loops).
    swiglu: (gate, up) => run(() => tf.mul(tf.mul(gate, tf.sigmoid(gate)), up)),
    rmsNorm: (x, weight, _shape, eps) => run(() => tf.mul(tf.mul(x, inverseRms(x, eps)), weight)),
    rmsNormGrad: (g, x, weight, shape, eps) =>
      run(() => {
        const r = inverseRms(x, eps);
        const wg = tf.mul(weight, g);
        const along = tf.div(tf.mul(tf.pow(r, 3), tf.sum(tf.mul(wg, x), -1, true)), last(shape));
        return tf.sub(tf.mul(r, wg), tf.mul(x, along));
      }),
    // rotateHalf as a product with a signed permutation: tfjs-wasm runs slicing and
    // concatenation in generic loops 4x slower than the product.
    rope: (x, _shape, cos, sin, inverse, splitHeads) =>
      run(() => {
        const heads = (y: T) => (splitHeads ? tf.transpose(y, [0, 2, 1, 3]) : y);
        const input = inverse ? x : heads(x); // [B, heads, T, D]
        const [b, , t, d] = input.shape;
        const perHead = (table: T) => tf.reshape(table, [b, 1, t, d]);
        const rotate = (y: T) =>
          tf.reshape(tf.matMul(tf.reshape(y, [-1, d]), rotateHalf(d)), input.shape);
        // The transpose of the signed permutation is its negative (no transposed product, which
        // XNNPACK runs 10x slower).
        const turned = inverse
          ? tf.neg(rotate(tf.mul(input, perHead(sin))))
          : tf.mul(rotate(input), perHead(sin));
        const out = tf.add(tf.mul(input, perHead(cos)), turned);
        return inverse ? heads(out) : out;
      }),
    softmaxGrad: (y, g) => run(() => tf.mul(y, tf.sub(g, tf.sum(tf.mul(g, y), -1, true)))),
    // tfjs tensors are immutable: never in place.
    matmulAdd: (c, a, aShape, b, bShape, transposeA, transposeB) =>
      run(() => tf.add(c, kernels.matmul(a, aShape, b, bShape, transposeA, transposeB))),
  };
  // Custom programs are a WebGPU feature: tfjs-cpu and tfjs-wasm keep 16-bit files as float32.
  return name === "webgpu" ? withHalfWeights(kernels, run) : kernels;
};

export interface TfjsBackendOptions {
  /**
   * Caps the bytes of every tensor a kernel reads or writes, failing the kernel beyond it.
   * WebGPU always has such a cap, its device's maxStorageBufferBindingSize (tfjs does not
   * check it); a lower value here tests chunking code. CPU backends have none by default.
   */
  readonly maxBindingBytes?: number;
}

/** Every WebGPU adapter supports at least this binding size (the spec's default limit). */
const webgpuSpecMinimum = 128 * 1024 * 1024;

const webgpuBindingLimit = (): number => {
  const instance = tfjsBackendInstance("webgpu") as {
    readonly device?: { readonly limits?: { readonly maxStorageBufferBindingSize?: number } };
  };
  return instance?.device?.limits?.maxStorageBufferBindingSize ?? webgpuSpecMinimum;
};

const load = async (name: TfjsBackendName, options: TfjsBackendOptions): Promise<Backend> => {
  await startTfjsBackend(name);
  const deviceLimit = name === "webgpu" ? webgpuBindingLimit() : Infinity;
  const limit = Math.min(deviceLimit, options.maxBindingBytes ?? Infinity);
  const kernels = tfjsKernels(name);
  const capabilities = capabilitiesOf(name);
  return Number.isFinite(limit)
    ? { name, kernels: withBindingLimit(kernels, limit), capabilities, maxBindingBytes: limit }
    : { name, kernels, capabilities };
};

// Tensors from two Backend objects cannot meet in one op, so equal requests share one object.
const loaded = new Map<string, Promise<Backend>>();

/**
 * Starts a tfjs backend (once per process) and returns it. WebGPU needs navigator.gpu (Deno);
 * elsewhere, or without an adapter, this rejects with an error saying so.
 */
export const loadTfjsBackend = (
  name: TfjsBackendName,
  options: TfjsBackendOptions = {},
): Promise<Backend> => {
  const key = `${name}:${options.maxBindingBytes ?? ""}`;
  const known = loaded.get(key);
  if (known) return known;
  const backend = load(name, options);
  loaded.set(key, backend);
  backend.catch(() => loaded.delete(key));
  return backend;
};
