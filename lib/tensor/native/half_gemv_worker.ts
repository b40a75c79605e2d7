/**
 * A worker of the decoding product's thread pool (./half_gemv.ts). It never returns to its event
 * loop: it sleeps on the count of posted jobs, takes each job's operands (addresses in the
 * arena's shared memory, handed over in workerData) from its port synchronously, claims the job
 * unless the caller already finished it, computes chunks of output columns on its own instance
 * of the wasm module until none is left, counts the job finished (flagging a failure, never
 * hanging the caller) and wakes the caller. The pool unreferences it, so it never keeps the
 * process alive.
 */
import { type MessagePort, receiveMessageOnPort, workerData } from "node:worker_threads";
import { type Blas, loadBlas } from "./blas.ts";
import { adoptArenaMemory } from "./half_arena.ts";
import { BAND_BYTES, halfGemvModule, productColumns, widenedColumns } from "./half_gemv_columns.ts";
import {
  CLAIMED,
  type ColumnsJob,
  FAILED,
  FINISHED,
  POSTED,
  READY,
  takeChunks,
} from "./half_gemv_protocol.ts";

const { control, next, port, memory, index } = workerData as {
  control: Int32Array;
  next: Int32Array;
  port: MessagePort;
  memory: WebAssembly.Memory;
  /** This worker's place among the threads (the caller is 0): which band it copies into. */
  index: number;
};
/** A bound on each sleep while idle (jobs wake it; this only keeps every wait finite). */
const IDLE_WAIT_MS = 1000;

adoptArenaMemory(memory);
halfGemvModule(memory);

/**
 * The BLAS at the thread count the caller sets for it, opened as the worker loads (beside the
 * model) rather than inside the first product; where it cannot open, widened jobs fail.
 */
const blas = ((): Blas | Error => {
  try {
    return loadBlas(null);
  } catch (e) {
    return e as Error;
  }
})();

const run = (job: ColumnsJob): void => {
  const { n, k, chunkColumns } = job;
  const bits = job.bits && new Uint16Array(job.bits, job.bitsOffset, n * k);
  const product = { ...job, bits };
  if (job.widened) {
    if (blas instanceof Error) throw blas;
    const { sgemm } = blas;
    const bandAt = job.bandsAt + (index - 1) * chunkColumns * (k + job.m) * 4;
    return takeChunks(next, n, chunkColumns, (begin, end) => {
      widenedColumns(sgemm, product, begin, end, bandAt, job.flipped);
    });
  }
  const bandAt = job.bandsAt + (index - 1) * BAND_BYTES;
  takeChunks(next, n, chunkColumns, (begin, end) => {
    productColumns(product, begin, end, bandAt);
  });
};

Atomics.store(control, READY, 1);
Atomics.notify(control, READY); // loaded: the pool waits for this before posting
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
