/**
 * What ./half_gemv.ts and its workers (./half_gemv_worker.ts) share: the words of a worker's
 * control block (an Int32Array in shared memory), the job sent through its port, and how a
 * job's columns are cut into chunks that every thread takes from one shared counter.
 */

/** Jobs posted to this worker so far (the caller adds one per job, then wakes the worker). */
export const POSTED = 0;
/** Jobs this worker has finished (or found already done) so far; the caller waits on it. */
export const FINISHED = 1;
/**
 * Jobs claimed so far, by the worker when it starts one or by the caller when it finished every
 * chunk first (then nobody waits for a worker that was not scheduled in time).
 */
export const CLAIMED = 2;
/** 1 once a job failed. */
export const FAILED = 3;
/** 1 once the worker's module has loaded. */
export const READY = 4;
/** Words in a control block. */
export const CONTROL_WORDS = 5;

/**
 * Output columns of a product laid out in the arena (./half_gemv_columns.ts's ColumnsProduct:
 * rows, output and, when it lies there, the weight), in chunks of `chunkColumns` taken from the
 * shared counter `next`. A weight outside the arena comes as its buffer and byte offset, copied
 * in through the worker's own band, bandsAt + (index - 1) · BAND_BYTES. Numbers and buffers, not
 * views: Deno's receiveMessageOnPort walks every value of a typed array.
 */
export interface ColumnsJob {
  /**
   * Each chunk widened into the thread's band and multiplied by sgemm (rows in order, weight in
   * the arena; bands of chunkColumns · k float32 from bandsAt), instead of the wasm kernel.
   */
  readonly widened: boolean;
  /**
   * A widened job's sgemm as band · rowsᵀ into [columns, m] after the band in the thread's area
   * (bands of chunkColumns · (k + m) float32), transposed into out: ./matmul.ts's flipped form.
   */
  readonly flipped: boolean;
  readonly xAt: number;
  readonly outAt: number;
  readonly wAt: number | null;
  readonly bits: SharedArrayBuffer | null;
  readonly bitsOffset: number;
  readonly bandsAt: number;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly chunkColumns: number;
}

/** Weight values per chunk: each thread takes the next chunk when done with its last. */
export const CHUNK_WEIGHTS = 1 << 18;

/**
 * Takes chunks of columns from `next` (word 0, shared by every thread on the job) and computes
 * each with `columns(begin, end)` until none is left.
 */
export const takeChunks = (
  next: Int32Array,
  n: number,
  chunkColumns: number,
  columns: (begin: number, end: number) => void,
): void => {
  for (let c = Atomics.add(next, 0, 1); c * chunkColumns < n; c = Atomics.add(next, 0, 1)) {
    columns(c * chunkColumns, Math.min(n, (c + 1) * chunkColumns));
  }
};
