/**
 * Buffer reuse for the pure-TS backend (and the native one, which shares its kernels). A fresh
 * typed array costs more than most kernels that fill it: zeroing, then a page fault per 4 KB on
 * first touch (measured 2-5 ns a value against ~0.7 for a product loop), and a dropped one goes
 * back to the system only when the collector runs, late on Bun. So disposed buffers wait here,
 * by dtype and length, for the next kernel that needs that size.
 *
 * One rule keeps it correct: a buffer is reused only once no handle to it is left. A kernel that
 * returns one of its inputs as its output (reshape) retains it, so each of the handles' disposes
 * counts down once. Views into a larger buffer (worker scratch) are never pooled; shared-memory
 * buffers are pooled apart from plain ones (the collector frees those latest of all).
 */
import { freeBuffer } from "../../io/free_buffer.ts";
import type { DType } from "../kernels.ts";

type Buf = Float32Array | Int32Array;

/**
 * The pool's floor: it may always keep this many bytes for reuse. Past the limit the buffers
 * released longest ago are freed, so the pool follows the sizes in use now instead of filling
 * with stale ones; a buffer larger than the floor is freed on release. Freed at once
 * (lib/io/free_buffer.ts), not left to the collector: Bun's 0.5B probe peaked at 2.48 GB with
 * 128 MB, 2.88 GB with 512 (when evicted buffers waited for Bun's collector, 6.9 GB at 128 MB,
 * 3.5 GB at 512).
 */
export const POOL_BYTES = 128 * 1024 ** 2;
/**
 * A working set up to this size is kept whole: while the pool's buffers in use have never
 * reached more together, it keeps up to their peak less those in use now (in use and idle stay
 * within that peak plus the floor). The 0.99M bench shape's step then reuses every buffer (+8%
 * tokens/s at 1 thread); larger runs, whose peak passes it, keep the floor only (with no such
 * bound the 1.5B probe peaked at 5.53 GB against 5.22, the 0.5B one at 2.10 against 2.00-2.05).
 */
export const WHOLE_WORKING_SET_BYTES = 256 * 1024 ** 2;
/** Smaller buffers are cheap to make and not worth a map lookup. */
const MIN_POOLED_VALUES = 1024;

const keyOf = (dtype: DType, length: number, shared: boolean): string =>
  `${dtype}:${length}${shared ? ":shared" : ""}`;
const dtypeOf = (x: Buf): DType => (x instanceof Int32Array ? "int32" : "float32");

const keyOfBuffer = (x: Buf): string =>
  keyOf(dtypeOf(x), x.length, x.buffer instanceof SharedArrayBuffer);

const fresh = (dtype: DType, length: number, shared: boolean): Buf => {
  const memory = shared ? new SharedArrayBuffer(length * 4) : new ArrayBuffer(length * 4);
  return dtype === "int32" ? new Int32Array(memory) : new Float32Array(memory);
};

/** Disposed buffers kept for reuse, up to a limit (see `POOL_BYTES`, the backend's floor). */
export interface BufferPool {
  /**
   * A buffer of `length` values of `dtype`, in shared memory when `shared` (what worker threads
   * read without a copy): zeroed when `zeroed`, else holding stale values that the caller
   * overwrites in full before anyone reads it.
   */
  readonly take: (dtype: DType, length: number, zeroed: boolean, shared?: boolean) => Buf;
  /** Records one more handle to `x` (a kernel returning its input), released separately. */
  readonly retain: <T>(x: T) => T;
  /**
   * One handle to `x` is gone; when it was the last, the buffer waits for reuse, or, past the
   * limit, is freed (with the ones released longest ago).
   */
  readonly release: (x: unknown) => void;
  /** Bytes waiting for reuse now (for tests and memory reports). */
  readonly pooled: () => number;
}

/**
 * A pool keeping at most `floorBytes` of disposed buffers, or, while the bytes its handed-out
 * buffers reached together peak at most at `wholeBytes`, up to that peak less the bytes they hold
 * now.
 */
export const bufferPool = (floorBytes: number, wholeBytes = 0): BufferPool => {
  const free = new Map<string, Buf[]>();
  let pooledBytes = 0;
  /** Buffers handed out and not yet released (pooled sizes only), their bytes and its peak. */
  const handedOut = new WeakSet<Buf>();
  let liveBytes = 0;
  let peakLiveBytes = 0;
  const limit = (): number =>
    peakLiveBytes > wholeBytes ? floorBytes : Math.max(floorBytes, peakLiveBytes - liveBytes);
  /** Handles beyond the first that share a buffer (reshape's output and its input). */
  const extraHandles = new WeakMap<Buf, number>();
  /**
   * The buffers in `free`, oldest release first (a Set keeps insertion order). A second release
   * of one is a bug that would hand it out twice.
   */
  const inPool = new Set<Buf>();

  /** Frees the buffer released longest ago. */
  const evictOldest = (): void => {
    const [oldest] = inPool;
    inPool.delete(oldest);
    const list = free.get(keyOfBuffer(oldest))!;
    list.splice(list.indexOf(oldest), 1);
    pooledBytes -= oldest.byteLength;
    freeBuffer(oldest);
  };

  const handOut = (x: Buf): Buf => {
    handedOut.add(x);
    liveBytes += x.byteLength;
    peakLiveBytes = Math.max(peakLiveBytes, liveBytes);
    // A new size in use shrinks the room for idle ones: stale sizes go first.
    while (pooledBytes > limit()) evictOldest();
    return x;
  };

  const take = (dtype: DType, length: number, zeroed: boolean, shared = false): Buf => {
    if (length < MIN_POOLED_VALUES) return fresh(dtype, length, shared);
    const reused = free.get(keyOf(dtype, length, shared))?.pop();
    if (!reused) return handOut(fresh(dtype, length, shared));
    pooledBytes -= reused.byteLength;
    inPool.delete(reused);
    handOut(reused);
    return zeroed ? reused.fill(0) : reused;
  };

  const retain = <T>(x: T): T => {
    if (x instanceof Float32Array || x instanceof Int32Array) {
      extraHandles.set(x, (extraHandles.get(x) ?? 0) + 1);
    }
    return x;
  };

  const release = (x: unknown): void => {
    if (!(x instanceof Float32Array || x instanceof Int32Array)) return;
    const extra = extraHandles.get(x);
    if (extra !== undefined) {
      if (extra === 1) extraHandles.delete(x);
      else extraHandles.set(x, extra - 1);
      return;
    }
    if (inPool.has(x)) {
      throw new Error("tensor buffer released twice (disposed through two handles?)");
    }
    if (handedOut.delete(x)) liveBytes -= x.byteLength;
    const whole = x.byteOffset === 0 && x.byteLength === x.buffer.byteLength;
    if (!whole || x.length < MIN_POOLED_VALUES) return;
    // One buffer past the floor (a large model's logits) costs more memory than its first touch.
    if (x.byteLength > floorBytes) return freeBuffer(x);
    while (pooledBytes + x.byteLength > limit()) evictOldest();
    const key = keyOfBuffer(x);
    const list = free.get(key);
    if (list) list.push(x);
    else free.set(key, [x]);
    inPool.add(x);
    pooledBytes += x.byteLength;
  };

  return { take, retain, release, pooled: () => pooledBytes };
};

/** The pool the pure-TS and native kernels share. */
const kernelPool = bufferPool(POOL_BYTES, WHOLE_WORKING_SET_BYTES);

/** A buffer from the kernels' pool (see `BufferPool.take`). */
export const take = kernelPool.take;
/** One more handle to `x` in the kernels' pool (see `BufferPool.retain`). */
export const retain = kernelPool.retain;
/** One handle to `x` gone, in the kernels' pool (see `BufferPool.release`). */
export const release = kernelPool.release;
/** Bytes waiting for reuse in the kernels' pool now. */
export const pooled = kernelPool.pooled;
