/**
 * What the hosts of the embedded wasm modules share (./matmul.ts, ./activations.ts,
 * lib/tensor/native/half_gemv_columns.ts and half_arena.ts): a module's bytes from the base64
 * that ./build.mjs writes, and a memory grown to a size.
 */

/** Bytes in a WebAssembly page. */
export const WASM_PAGE_BYTES = 65536;

/** The bytes of a module embedded as base64 (the *_wasm.ts files). */
export const embeddedBytes = (base64: string): Uint8Array<ArrayBuffer> =>
  Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));

/** Grows `memory` by whole pages until it holds at least `bytes` (never shrinks it). */
export const growTo = (memory: WebAssembly.Memory, bytes: number): void => {
  const missing = bytes - memory.buffer.byteLength;
  if (missing > 0) memory.grow(Math.ceil(missing / WASM_PAGE_BYTES));
};
