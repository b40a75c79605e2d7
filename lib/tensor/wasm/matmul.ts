/**
 * Host side of the SIMD matrix-product module (assembly/matmul.ts): copies the operands into
 * the module's memory, runs the product there and returns a fresh array. Synchronous, and the
 * same on Deno, Bun and Node: the module is 1 KB of bytes compiled on first use.
 */
import type { Shape } from "../kernels.ts";
import { matmulShape, sizeOf } from "../shape.ts";
import { matmulWasmBase64 } from "./matmul_wasm.ts";
import { embeddedBytes, growTo } from "./host.ts";

interface MatmulExports {
  readonly memory: WebAssembly.Memory;
  transpose(src: number, dst: number, batch: number, rows: number, cols: number): void;
  matmul(
    a: number,
    b: number,
    c: number,
    batch: number,
    aBatchStride: number,
    bBatchStride: number,
    m: number,
    k: number,
    n: number,
    rowStride: number,
    colStride: number,
  ): void;
}

let loaded: MatmulExports | null = null;
const simd = (): MatmulExports => {
  if (!loaded) {
    const compiled = new WebAssembly.Module(embeddedBytes(matmulWasmBase64));
    loaded = new WebAssembly.Instance(compiled).exports as never;
  }
  return loaded as MatmulExports;
};

/** Byte offsets of consecutive float32 regions, each 16-byte aligned for SIMD loads. */
const layout = (sizes: readonly number[]): { offsets: number[]; end: number } => {
  const offsets: number[] = [];
  let end = 0;
  for (const size of sizes) {
    offsets.push(end);
    end += Math.ceil(size / 4) * 16;
  }
  return { offsets, end };
};

const batchOf = (shape: Shape): number => sizeOf(shape.slice(0, -2));

/**
 * [...batch, M, K] · [...batch, K, N] → [...batch, M, N] (after the optional transposes of the
 * last two axes) on row-major float32 data; b may be one matrix shared by every batch entry.
 */
export const simdMatmul = (
  a: Float32Array,
  aShape: Shape,
  b: Float32Array,
  bShape: Shape,
  transposeA: boolean,
  transposeB: boolean,
): Float32Array => {
  const out = matmulShape(aShape, bShape, transposeA, transposeB);
  const [m, n] = out.slice(-2);
  const k = transposeA ? aShape[aShape.length - 2] : aShape[aShape.length - 1];
  const [batchA, batchB] = [batchOf(aShape), batchOf(bShape)];
  const batch = batchOf(out);
  const { offsets: [aAt, bAt, packedAt, cAt], end } = layout([
    a.length,
    b.length,
    transposeB ? b.length : 0,
    sizeOf(out),
  ]);
  const wasm = simd();
  growTo(wasm.memory, end);
  const heap = new Float32Array(wasm.memory.buffer);
  heap.set(a, aAt / 4);
  heap.set(b, bAt / 4);
  if (transposeB) wasm.transpose(bAt, packedAt, batchB, n, k);
  wasm.matmul(
    aAt,
    transposeB ? packedAt : bAt,
    cAt,
    batch,
    batchA === 1 ? 0 : m * k,
    batchB === 1 ? 0 : k * n,
    m,
    k,
    n,
    transposeA ? 1 : k,
    transposeA ? m : 1,
  );
  return heap.slice(cAt / 4, cAt / 4 + sizeOf(out));
};
