/**
 * Host side of the SIMD activation module (assembly/activations.ts): the operands go through
 * the module's memory a chunk at a time (a few hundred KB, so they stay in cache between the
 * copy in, the kernel and the copy out) into a caller's output arrays. Synchronous, and the same
 * on Deno, Bun and Node.
 */
import { activationsWasmBase64 } from "./activations_wasm.ts";
import { embeddedBytes, growTo } from "./host.ts";

interface ActivationExports {
  readonly memory: WebAssembly.Memory;
  scratchStart(): number;
  swiglu(gate: number, up: number, out: number, n: number): void;
  swigluGrad(g: number, gate: number, up: number, dGate: number, dUp: number, n: number): void;
  softmax(x: number, out: number, rows: number, width: number): void;
  softmaxGrad(y: number, g: number, out: number, rows: number, width: number): void;
  rmsNorm(x: number, weight: number, out: number, rows: number, width: number, eps: number): void;
  rmsNormGrad(
    g: number,
    x: number,
    weight: number,
    out: number,
    rows: number,
    width: number,
    eps: number,
  ): void;
}

/** Values per region: five regions of 64 KB (inputs, then outputs). */
const CHUNK = 1 << 14;
const REGION_BYTES = CHUNK * 4;
const REGIONS = 5;

/** Rows no wider than this go through the module (a chunk holds at least one). */
export const MAX_ROW_WIDTH = CHUNK;

/** The module, its memory's float32 view from the first region on, and the regions' addresses. */
interface Loaded {
  readonly exports: ActivationExports;
  readonly values: Float32Array;
  readonly regions: readonly number[];
}
let loaded: Loaded | null = null;
const instance = (): Loaded => {
  if (!loaded) {
    const compiled = new WebAssembly.Module(embeddedBytes(activationsWasmBase64));
    const exports = new WebAssembly.Instance(compiled).exports as never as ActivationExports;
    const start = exports.scratchStart(); // the module's constants lie below
    growTo(exports.memory, start + REGIONS * REGION_BYTES);
    loaded = {
      exports,
      values: new Float32Array(exports.memory.buffer, start, REGIONS * CHUNK),
      regions: Array.from({ length: REGIONS }, (_, i) => start + i * REGION_BYTES),
    };
  }
  return loaded;
};

/**
 * Runs `kernel` over the arrays `streamed` a chunk of `step` values at a time: region i holds
 * streamed[i]'s chunk, then one region per `fixed` array (copied once), then one per output.
 * Row kernels take whole rows (step a multiple of the width) and write up to three values past
 * a chunk's last row, into the next region: the last region is never an output.
 */
const chunked = (
  step: number,
  streamed: readonly Float32Array[],
  fixed: readonly Float32Array[],
  outputs: readonly Float32Array[],
  kernel: (exports: ActivationExports, regions: readonly number[], count: number) => void,
): void => {
  const { exports, values, regions } = instance();
  fixed.forEach((x, i) => values.set(x, (streamed.length + i) * CHUNK));
  const firstOut = streamed.length + fixed.length;
  const n = streamed[0].length;
  for (let at = 0; at < n; at += step) {
    const count = Math.min(step, n - at);
    for (let i = 0; i < streamed.length; i++) {
      values.set(streamed[i].subarray(at, at + count), i * CHUNK);
    }
    kernel(exports, regions, count);
    for (let j = 0; j < outputs.length; j++) {
      const from = (firstOut + j) * CHUNK;
      outputs[j].set(values.subarray(from, from + count), at);
    }
  }
};

/** Elementwise kernels run whole vectors: the tail lanes hold stale values, never copied out. */
const vectors = (count: number): number => Math.ceil(count / 4) * 4;

/** `chunked` for a row kernel: whole rows of `width` per chunk, `rows` of them this time. */
const byRows = (
  width: number,
  streamed: readonly Float32Array[],
  fixed: readonly Float32Array[],
  out: Float32Array,
  kernel: (exports: ActivationExports, regions: readonly number[], rows: number) => void,
): void =>
  chunked(
    Math.floor(CHUNK / width) * width,
    streamed,
    fixed,
    [out],
    (e, regions, count) => kernel(e, regions, count / width),
  );

/** out = silu(gate) · up (arrays of one length). */
export const swigluInto = (gate: Float32Array, up: Float32Array, out: Float32Array): void =>
  chunked(CHUNK, [gate, up], [], [out], (e, [g, u, o], n) => e.swiglu(g, u, o, vectors(n)));

/** dGate and dUp of swiglu given the output's gradient g (arrays of one length). */
export const swigluGradInto = (
  g: Float32Array,
  gate: Float32Array,
  up: Float32Array,
  dGate: Float32Array,
  dUp: Float32Array,
): void =>
  chunked(
    CHUNK,
    [g, gate, up],
    [],
    [dGate, dUp],
    (e, [gr, ga, u, dg, du], n) => e.swigluGrad(gr, ga, u, dg, du, vectors(n)),
  );

/** Softmax over each row of `width` values of x into out (width ≤ MAX_ROW_WIDTH). */
export const softmaxInto = (x: Float32Array, width: number, out: Float32Array): void =>
  byRows(width, [x], [], out, (e, [r0, r1], rows) => e.softmax(r0, r1, rows, width));

/** Softmax's backward from its output y and the output's gradient g, per row of `width`. */
export const softmaxGradInto = (
  y: Float32Array,
  g: Float32Array,
  width: number,
  out: Float32Array,
): void =>
  byRows(width, [y, g], [], out, (e, [r0, r1, r2], rows) => e.softmaxGrad(r0, r1, r2, rows, width));

/** RMSNorm over each row of x (as wide as weight), times weight, into out. */
export const rmsNormInto = (
  x: Float32Array,
  weight: Float32Array,
  eps: number,
  out: Float32Array,
): void =>
  byRows(
    weight.length,
    [x],
    [weight],
    out,
    (e, [r0, r1, r2], rows) => e.rmsNorm(r0, r1, r2, rows, weight.length, eps),
  );

/** RMSNorm's d x from the output's gradient g, x and weight (as wide as a row). */
export const rmsNormGradInto = (
  g: Float32Array,
  x: Float32Array,
  weight: Float32Array,
  eps: number,
  out: Float32Array,
): void =>
  byRows(
    weight.length,
    [g, x],
    [weight],
    out,
    (e, [r0, r1, r2, r3], rows) => e.rmsNormGrad(r0, r1, r2, r3, rows, weight.length, eps),
  );
