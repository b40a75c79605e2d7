/**
 * BF16 rows-times-weight products for decoding and short prefills (rows x [m, k] times a weight
 * stored [n, k], transposed), on every core: by the wasm kernel (bf16RowsTimesTransposed) or by
 * sgemm over bands that each thread widens (bf16WidenedBandsOnThreads). The output columns are cut into chunks that this thread
 * and the workers (./half_gemv_worker.ts, node:worker_threads on Deno and Bun, each with its own
 * wasm instance) take from one shared counter, writing into shared memory, so a thread that
 * another process keeps off its core costs nothing but its share (on this loaded 2-core machine
 * a fixed half per thread made mid-size products slower than one thread). This thread then waits
 * (Atomics.wait: kernels are synchronous) only for workers that started the job. Every thread's
 * module instance works in one shared memory (./half_arena.ts) that holds the rows, the output
 * and the weights the native backend uploaded, so a job is a few addresses, read synchronously
 * by the worker (receiveMessageOnPort); a weight outside the arena travels as its shared buffer.
 * Bit-equal to one thread: each output value is one row's dot product with one weight row,
 * whichever thread computes it.
 *
 * Threads: TINA_THREADS, else every core (as the BLAS). Node (no native backend) and small
 * products stay on this thread; a worker that fails is an error, never a hang.
 *
 * The files: this one is the pool (starting workers, posting jobs, waiting for them);
 * ./half_gemv_protocol.ts the handshake both sides follow; ./half_gemv_worker.ts a worker;
 * ./half_gemv_columns.ts the work itself, a range of output columns on one thread (the wasm
 * kernel ./assembly/half_gemv.ts, or sgemm over a widened band); ./half_gemv_wasm.ts and
 * ./half_gemv_relaxed_wasm.ts the kernel's two builds (generated: lib/tensor/wasm/build.mjs).
 */
import { MessageChannel, type MessagePort, Worker } from "node:worker_threads";
import { type Blas, blasThreadCount } from "./blas.ts";
import { arenaAddress, arenaMemory, arenaScratch, arenaView } from "./half_arena.ts";
import {
  arenaProduct,
  BAND_BYTES,
  bf16Columns,
  checkOperands,
  productColumns,
  widenedColumns,
} from "./half_gemv_columns.ts";
import {
  CHUNK_WEIGHTS,
  type ColumnsJob,
  controlBlock,
  postJob,
  settleJob,
  takeChunks,
  workerLoaded,
} from "./half_gemv_protocol.ts";

/**
 * Below this many weight values a product stays on one thread: posting a job costs 15-70 µs
 * (Deno, Bun), a weight 0.2-0.7 ns. At the 0.5B shape the q, o and MLP projections and the LM
 * head are shared out; the 128-row k and v projections are not.
 */
const MIN_SHARED_WEIGHTS = 1 << 18;

interface Helper {
  readonly worker: Worker;
  readonly control: Int32Array;
  readonly port: MessagePort;
}

/** The worker's module: compiled JavaScript beside compiled JavaScript, else the source. */
const WORKER_URL = new URL(
  import.meta.url.endsWith(".js") ? "./half_gemv_worker.js" : "./half_gemv_worker.ts",
  import.meta.url,
);

/** The chunk counter of the job in progress, shared by every thread. */
const next = new Int32Array(new SharedArrayBuffer(4));
let pool: Helper[] = [];
/** Set once workers could not start (or this runtime has no native backend): one thread. */
let unavailable = !("Deno" in globalThis || "Bun" in globalThis);

/** Starts the worker that is thread `index` of a product (this thread is 0). */
const startHelper = (index: number): Helper => {
  const control = controlBlock();
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(WORKER_URL, {
    workerData: { control, next, port: port2, memory: arenaMemory(), index },
    transferList: [port2 as never],
  });
  worker.unref(); // a worker must not keep the process alive
  // A worker that dies (its module failed to load) ends threads, not the process: later products
  // run on this thread.
  worker.on("error", giveUpThreads);
  return { worker, control, port: port1 };
};

/** Stops every worker; products stay on this thread from now on. */
const giveUpThreads = (): void => {
  pool.forEach(({ worker }) => worker.terminate());
  pool = [];
  unavailable = true;
};

/**
 * Starts workers up to `count` without waiting for them (the native backend calls it when it
 * loads, so that workers load beside the model instead of inside the first product).
 */
export const startHalfGemvWorkers = (count = blasThreadCount() - 1): void => {
  if (unavailable) return;
  try {
    const added = Array.from(
      { length: Math.max(0, count - pool.length) },
      (_, i) => startHelper(pool.length + i + 1),
    );
    pool = [...pool, ...added];
  } catch {
    giveUpThreads(); // no workers on this runtime or install: one thread, as on Node
  }
};

/** `count` loaded workers, or null when they could not start. */
const helpers = (count: number): Helper[] | null => {
  startHalfGemvWorkers(count);
  if (unavailable) return null;
  const wanted = pool.slice(0, count);
  if (wanted.every(({ control }) => workerLoaded(control))) return wanted;
  giveUpThreads();
  return null;
};

/** Threads a large product runs on now: 1 when TINA_THREADS=1 or workers could not start. */
export const halfGemvThreads = (): number => (unavailable ? 1 : blasThreadCount());

/**
 * Posts `job` to `workers`, computes chunks on this thread with `columns` until none is left,
 * waits for the workers, and copies the product out of the arena into `out`.
 */
const runJob = (
  workers: Helper[],
  job: ColumnsJob,
  columns: (begin: number, end: number) => void,
  out: Float32Array,
): void => {
  Atomics.store(next, 0, 0);
  const posted = workers.map(({ control, port }) => postJob(control, port, job));
  takeChunks(next, job.n, job.chunkColumns, columns);
  posted.forEach((count, i) => settleJob(workers[i].control, count));
  out.set(arenaView(Float32Array, job.outAt, job.m * job.n));
};

/**
 * The workers to share the product of an [n, k] weight out with, in chunks of `chunkColumns`
 * columns; null (this thread alone) where there are no threads, the weight is small or takes one
 * chunk, or the workers cannot read it in place (`shareable` false).
 */
const workersFor = (
  n: number,
  k: number,
  chunkColumns: number,
  shareable: boolean,
): Helper[] | null => {
  const threads = Math.min(halfGemvThreads(), Math.ceil(n / chunkColumns));
  return threads > 1 && n * k >= MIN_SHARED_WEIGHTS && shareable ? helpers(threads - 1) : null;
};

/**
 * out[i·n + j] = Σ_p x[i·k + p] · w[j·k + p] for i < m, j < n: x [m, k] float32 rows, `bits`
 * [n, k] BF16. Shared out across threads when the weight is large and lies in the arena or in
 * other shared memory.
 */
export const bf16RowsTimesTransposed = (
  x: Float32Array,
  bits: Uint16Array,
  m: number,
  n: number,
  k: number,
  out: Float32Array,
): void => {
  checkOperands(x, bits, m, n, k, out);
  const chunkColumns = Math.max(1, Math.floor(CHUNK_WEIGHTS / k));
  const workers = workersFor(n, k, chunkColumns, bits.buffer instanceof SharedArrayBuffer);
  if (workers === null) return bf16Columns(x, bits, m, n, k, 0, n, out);
  const product = arenaProduct(x, bits, m, n, k);
  const inArena = product.wAt !== null;
  const job: ColumnsJob = {
    widened: false,
    flipped: false,
    xAt: product.xAt,
    outAt: product.outAt,
    wAt: product.wAt,
    bits: inArena ? null : bits.buffer as SharedArrayBuffer,
    bitsOffset: bits.byteOffset,
    bandsAt: inArena ? 0 : arenaScratch("worker bands", workers.length * BAND_BYTES),
    m,
    n,
    k,
    chunkColumns,
  };
  const bandAt = inArena ? 0 : arenaScratch("band", BAND_BYTES);
  runJob(workers, job, (begin, end) => productColumns(product, begin, end, bandAt), out);
};

/**
 * The same product by sgemm over bands of `bandColumns` weight rows that each thread widens in
 * the arena (./matmul.ts's loop for a few rows, `flipped` as there, band by band on every
 * thread, each band's call unchanged, so the same bits), with OpenBLAS on one thread meanwhile
 * (its own threads would contend with these). False, computing nothing, where the product stays
 * on this thread: workers unavailable, a small weight, or one outside the arena.
 */
export const bf16WidenedBandsOnThreads = (
  blas: Blas,
  x: Float32Array,
  bits: Uint16Array,
  m: number,
  n: number,
  k: number,
  out: Float32Array,
  bandColumns: number,
  flipped: boolean,
): boolean => {
  checkOperands(x, bits, m, n, k, out);
  const wAt = arenaAddress(bits);
  const workers = workersFor(n, k, bandColumns, wAt !== null);
  if (workers === null) return false;
  const bandBytes = bandColumns * (k + m) * 4;
  const xAt = arenaScratch("rows", m * k * 4);
  arenaView(Float32Array, xAt, m * k).set(x.subarray(0, m * k));
  const job: ColumnsJob = {
    widened: true,
    flipped,
    xAt,
    outAt: arenaScratch("out", m * n * 4),
    wAt,
    bits: null,
    bitsOffset: 0,
    bandsAt: arenaScratch("worker widened bands", workers.length * bandBytes),
    m,
    n,
    k,
    chunkColumns: bandColumns,
  };
  const bandAt = arenaScratch("widened band", bandBytes);
  const product = { ...job, bits: null };
  const columns = (begin: number, end: number) =>
    widenedColumns(blas.sgemm, product, begin, end, bandAt, flipped);
  blas.onOneThread(() => runJob(workers, job, columns, out));
  return true;
};
