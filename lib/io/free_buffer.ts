/**
 * Memory given back now instead of when the collector runs: a detached ArrayBuffer frees its
 * bytes at once (`transfer(0)`), where a dropped one waits for a collection, which V8 and Bun run
 * seldom while a program mostly fills large typed arrays (the 1.5B probe held ~1 GB of dropped
 * buffers at its peak).
 */

/**
 * Frees the memory under `view` now when it spans a whole plain ArrayBuffer that nothing else
 * uses; shared memory and views into larger buffers are left alone, and so is everything on
 * runtimes without `ArrayBuffer.prototype.transfer` (Node 20), where the collector frees it.
 */
export const freeBuffer = (view: ArrayBufferView): void => {
  const memory = view.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };
  const whole = view.byteOffset === 0 && view.byteLength === memory.byteLength;
  if (whole && memory instanceof ArrayBuffer && memory.transfer !== undefined) memory.transfer(0);
};

/**
 * A full collection now where the runtime offers one without flags (`Bun.gc`): Bun's collector
 * otherwise frees the typed arrays a long phase dropped (copies, uploads, host logits) only after
 * the next phase has added its own (Bun's 0.5B probe peaked 0.47 GB lower with one after each
 * phase of the step). V8 keeps up on its own, and Deno and Node offer no collection unflagged.
 */
export const collectNow = (): void => {
  (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc(true);
};
