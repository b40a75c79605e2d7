/**
 * Host side of the SIMD activation module (assembly/activations.ts): the operands go through
 * the module's memory a chunk at a time (a few hundred KB, so they stay in cache between the
 * copy in, the kernel and the copy out) into a caller's output array. Synchronous, and the same
 * on Deno, Bun and Node.
 */
import { activationsWasmBase64 } from "./activations_wasm.ts";

interface ActivationExports {
  readonly memory: WebAssembly.Memory;
  swiglu(gate: number, up: number, out: number, n: number): void;
  swigluGrad(g: number, gate: number, up: number, dGate: number, dUp: number, n: number): void;
  softmax(x: number, out: number, rows: number, width: number): void;
}

/** Values per chunk: five regions of 64 KB (three inputs, two outputs). */
const CHUNK = 1 << 14;
const REGION_BYTES = CHUNK * 4;
const REGIONS = 5;

let loaded: { exports: ActivationExports; values: Float32Array } | null = null;
const instance = () => {
  if (!loaded) {
    const bytes = Uint8Array.from(atob(activationsWasmBase64), (c) => c.charCodeAt(0));
    const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes))
      .exports as never as ActivationExports;
    const missing = REGIONS * REGION_BYTES - exports.memory.buffer.byteLength;
    if (missing > 0) exports.memory.grow(Math.ceil(missing / 65536));
    loaded = { exports, values: new Float32Array(exports.memory.buffer) };
  }
  return loaded;
};

/**
 * Runs `kernel` over `inputs` chunk by chunk: input i is copied to region i, the kernel writes
 * region inputs.length + j for output j. Whole vectors of four are processed; the tail lanes
 * past the values hold stale numbers and are never copied out.
 */
const chunked = (
  inputs: readonly Float32Array[],
  outputs: readonly Float32Array[],
  kernel: (exports: ActivationExports, regions: readonly number[], n: number) => void,
): void => {
  const { exports, values } = instance();
  const regions = Array.from({ length: REGIONS }, (_, i) => i * REGION_BYTES);
  const n = inputs[0].length;
  for (let at = 0; at < n; at += CHUNK) {
    const count = Math.min(CHUNK, n - at);
    inputs.forEach((x, i) => values.set(x.subarray(at, at + count), i * CHUNK));
    kernel(exports, regions, Math.ceil(count / 4) * 4);
    outputs.forEach((y, j) => {
      const from = (inputs.length + j) * CHUNK;
      y.set(values.subarray(from, from + count), at);
    });
  }
};

/** out = silu(gate) · up (arrays of one length). */
export const swigluInto = (gate: Float32Array, up: Float32Array, out: Float32Array): void =>
  chunked([gate, up], [out], (e, [g, u, o], n) => e.swiglu(g, u, o, n));

/** dGate and dUp of swiglu given the output's gradient g (arrays of one length). */
export const swigluGradInto = (
  g: Float32Array,
  gate: Float32Array,
  up: Float32Array,
  dGate: Float32Array,
  dUp: Float32Array,
): void =>
  chunked(
    [g, gate, up],
    [dGate, dUp],
    (e, [gr, ga, u, dg, du], n) => e.swigluGrad(gr, ga, u, dg, du, n),
  );

/** Rows no wider than this go through the module (a chunk holds at least one). */
export const SOFTMAX_MAX_WIDTH = CHUNK;

/**
 * Softmax over each row of `width` values of x into out (width ≤ SOFTMAX_MAX_WIDTH). The module
 * writes up to three values past a chunk's last row: into the next region, which softmax leaves
 * unused.
 */
export const softmaxInto = (x: Float32Array, width: number, out: Float32Array): void => {
  const { exports, values } = instance();
  const perChunk = Math.floor(CHUNK / width) * width;
  for (let at = 0; at < x.length; at += perChunk) {
    const count = Math.min(perChunk, x.length - at);
    values.set(x.subarray(at, at + count), 0);
    exports.softmax(0, REGION_BYTES, count / width, width);
    out.set(values.subarray(CHUNK, CHUNK + count), at);
  }
};
