/**
 * What ./half_gemv.ts (the caller) and its workers (./half_gemv_worker.ts) share: both sides of
 * the handshake over a worker's control block (an Int32Array in shared memory), the job sent
 * through its port, and how a job's columns are cut into chunks that every thread takes from one
 * shared counter.
 */
import { type MessagePort, receiveMessageOnPort } from "node:worker_threads";

/**
 * The words of a control block, CONTROL_WORDS of them. POSTED: jobs posted to this worker so far
 * (the caller adds one per job, then wakes the worker). FINISHED: jobs it has finished (or found
 * already done) so far; the caller waits on it. CLAIMED: jobs claimed so far, by the worker when
 * it starts one or by the caller when it finished every chunk first (then nobody waits for a
 * worker that was not scheduled in time). FAILED: 1 once a job failed. READY: 1 once the
 * worker's module has loaded.
 */
const [POSTED, FINISHED, CLAIMED, FAILED, READY, CONTROL_WORDS] = [0, 1, 2, 3, 4, 5];

/** How long a new worker may take to load before threads are given up (loaded machines). */
const START_TIMEOUT_MS = 30 * 1000;
/** How long to wait for a worker's last chunk (~1 ms of work) before calling it lost. */
const CHUNK_TIMEOUT_MS = 60 * 1000;
/** A bound on each sleep of an idle worker (jobs wake it; this only keeps every wait finite). */
const IDLE_WAIT_MS = 1000;

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

/** A worker's control block, for the caller to hand it in workerData. */
export const controlBlock = (): Int32Array =>
  new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));

/** The caller: whether the worker has loaded, waiting for it up to START_TIMEOUT_MS. */
export const workerLoaded = (control: Int32Array): boolean =>
  Atomics.load(control, READY) === 1 ||
  Atomics.wait(control, READY, 0, START_TIMEOUT_MS) !== "timed-out";

/** The caller: posts a job's operands through the port, then the count the worker wakes on. */
export const postJob = (control: Int32Array, port: MessagePort, job: ColumnsJob): number => {
  port.postMessage(job);
  const posted = Atomics.add(control, POSTED, 1) + 1;
  Atomics.notify(control, POSTED);
  return posted;
};

/**
 * The caller, once every chunk is taken: claims job `posted` where the worker has not started it
 * (no wait), else waits for the worker to finish it. Throws if any job of this worker failed.
 */
export const settleJob = (control: Int32Array, posted: number): void => {
  if (Atomics.compareExchange(control, CLAIMED, posted - 1, posted) !== posted - 1) {
    for (let seen = Atomics.load(control, FINISHED); seen < posted;) {
      if (Atomics.wait(control, FINISHED, seen, CHUNK_TIMEOUT_MS) === "timed-out") {
        throw new Error(
          `bf16RowsTimesTransposed: a worker thread gave no answer in ${CHUNK_TIMEOUT_MS / 1000} s`,
        );
      }
      seen = Atomics.load(control, FINISHED);
    }
  }
  if (Atomics.exchange(control, FAILED, 0) !== 0) {
    throw new Error("bf16RowsTimesTransposed: a worker thread failed");
  }
};

/**
 * The worker, once loaded: says so, then forever sleeps on the count of posted jobs, takes each
 * job's operands from its port synchronously, claims the job unless the caller already finished
 * it and runs it, counts it finished (flagging a failure, never hanging the caller) and wakes the
 * caller.
 */
export const serveJobs = (
  control: Int32Array,
  port: MessagePort,
  run: (job: ColumnsJob) => void,
): never => {
  Atomics.store(control, READY, 1);
  Atomics.notify(control, READY); // the caller waits for this before posting
  for (let handled = 0;;) {
    if (Atomics.load(control, POSTED) === handled) {
      Atomics.wait(control, POSTED, handled, IDLE_WAIT_MS);
      continue;
    }
    try {
      const job = receiveMessageOnPort(port)?.message as ColumnsJob | undefined;
      if (!job) throw new Error("half_gemv worker: a job was posted without its operands");
      if (Atomics.compareExchange(control, CLAIMED, handled, handled + 1) === handled) run(job);
    } catch {
      Atomics.store(control, FAILED, 1);
    }
    handled++;
    Atomics.store(control, FINISHED, handled);
    Atomics.notify(control, FINISHED);
  }
};
