/**
 * A worker of the pure-TS backend's thread pool (lib/tensor/ts/threads.ts): computes the band of
 * output columns it is sent into shared memory, then counts itself done (and flags a failure)
 * in the shared control words, waking the thread that waits for the band.
 */
import { parentPort, workerData } from "node:worker_threads";
import { halfTable } from "../half.ts";
import { type Band, matmulColumns } from "./matmul.ts";

parentPort!.on("message", ({ job, out, begin, end, control }: Band) => {
  try {
    const b = job.b instanceof Float32Array
      ? job.b
      : { bits: job.b.bits, format: job.b.format, table: halfTable(job.b.format) };
    matmulColumns({ ...job, b }, out, begin, end);
  } catch {
    Atomics.store(control, 1, 1);
  }
  Atomics.add(control, 0, 1);
  Atomics.notify(control, 0);
});

// Loaded: tell the pool (it waits for this before sending any band).
Atomics.add(workerData.ready, 0, 1);
Atomics.notify(workerData.ready, 0);
