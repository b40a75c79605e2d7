/**
 * A worker of the decoding product's thread pool (./half_gemv.ts). It never returns to its event
 * loop: it serves the jobs posted to it (./half_gemv_protocol.ts), each a few addresses in the
 * arena's shared memory (handed over in workerData), computing chunks of output columns on its
 * own instance of the wasm module, or by sgemm, until none is left. The pool unreferences it, so
 * it never keeps the process alive.
 */
import { type MessagePort, workerData } from "node:worker_threads";
import { type Blas, loadBlas } from "./blas.ts";
import { adoptArenaMemory } from "./half_arena.ts";
import { BAND_BYTES, halfGemvModule, productColumns, widenedColumns } from "./half_gemv_columns.ts";
import { type ColumnsJob, serveJobs, takeChunks } from "./half_gemv_protocol.ts";

const { control, next, port, memory, index } = workerData as {
  control: Int32Array;
  next: Int32Array;
  port: MessagePort;
  memory: WebAssembly.Memory;
  /** This worker's place among the threads (the caller is 0): which band it copies into. */
  index: number;
};

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

serveJobs(control, port, run);
