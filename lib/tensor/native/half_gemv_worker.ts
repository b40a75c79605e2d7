/**
 * A worker of the decoding product's thread pool (./half_gemv.ts). It never returns to its event
 * loop: it sleeps on the count of posted jobs, takes each job's operands (shared memory) from
 * its port synchronously, claims the job unless the caller already finished it, computes chunks
 * of output columns on its own instance of the wasm module until none is left, counts the job
 * finished (flagging a failure, never hanging the caller) and wakes the caller. The pool
 * unreferences it, so it never keeps the process alive.
 */
import { type MessagePort, receiveMessageOnPort, workerData } from "node:worker_threads";
import { bf16Columns } from "./half_gemv_columns.ts";
import {
  CLAIMED,
  type ColumnsJob,
  FAILED,
  FINISHED,
  POSTED,
  READY,
  takeChunks,
} from "./half_gemv_protocol.ts";

const { control, next, port } = workerData as {
  control: Int32Array;
  next: Int32Array;
  port: MessagePort;
};
/** A bound on each sleep while idle (jobs wake it; this only keeps every wait finite). */
const IDLE_WAIT_MS = 1000;

const run = (job: ColumnsJob): void => {
  const { m, n, k } = job;
  const x = new Float32Array(job.x, 0, m * k);
  const bits = new Uint16Array(job.bits, job.bitsOffset, n * k);
  const out = new Float32Array(job.out, 0, m * n);
  takeChunks(next, n, job.chunkColumns, (begin, end) => {
    bf16Columns(x, bits, m, n, k, begin, end, out);
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
