/**
 * Every core for the pure-TS backend's products. A product big enough to pay for it is split
 * into bands of output columns: workers (node:worker_threads, on Deno, Bun and Node alike) each
 * compute one band into shared memory while this thread computes the first, then waits for the
 * rest on a shared counter (Atomics.wait: kernels are synchronous). Operands not yet in shared
 * memory are copied there first (the weights are uploaded there, so only activations are).
 *
 * TINA_THREADS sets the thread count (see threadCount; 1 turns threads off). A worker that fails
 * is reported as an error, never as a hang or a silent wrong answer.
 */
import { availableParallelism } from "node:os";
import process from "node:process";
import { Worker } from "node:worker_threads";
import { type Band, matmulColumns, type MatmulJob } from "./matmul.ts";

/** Below this many multiply-adds a product is faster on one thread than dispatched. */
const MIN_PARALLEL_MACS = 1 << 21;
/** A band no narrower than this many columns (the register tile is 4 wide). */
const MIN_BAND_COLUMNS = 16;
/** How long to wait for a band before calling the worker lost. */
const BAND_TIMEOUT_MS = 10 * 60 * 1000;

/**
 * TINA_THREADS, else every core the runtime reports, except on Deno: there node:worker_threads
 * messages cost ~1 MB each that is not given back and run slower than one thread (measured:
 * 300 products of [64, 576] x [576, 1536] grew RSS by 260 MB), and its web workers keep the
 * process alive, so Deno runs one thread unless TINA_THREADS asks for more.
 */
export const threadCount = (): number =>
  askedThreads() ?? ("Deno" in globalThis ? 1 : availableParallelism());

/** The thread count TINA_THREADS asks for (a positive integer), else null. */
export const askedThreads = (): number | null => {
  const asked = Number(process.env.TINA_THREADS);
  return Number.isInteger(asked) && asked >= 1 ? asked : null;
};

/** How long a new worker may take to load before threads are given up (loaded machines). */
const START_TIMEOUT_MS = 30 * 1000;

/**
 * The worker's module: compiled JavaScript beside compiled JavaScript (the npm package); the
 * TypeScript source on Deno and Bun; on Node from source, a shim that registers tsx first (a
 * worker does not inherit the loader; see that file).
 */
const WORKER_URL = import.meta.url.endsWith(".js")
  ? new URL("./matmul_worker.js", import.meta.url)
  : "Deno" in globalThis || "Bun" in globalThis
  ? new URL("./matmul_worker.ts", import.meta.url)
  : new URL("./matmul_worker_node.mjs", import.meta.url);

let pool: Worker[] = [];
/** Set once workers failed to start: products then stay on this thread. */
let unavailable = false;

/** Workers that have loaded (each counts itself in `ready` once its module has run). */
const workers = (count: number): Worker[] | null => {
  if (unavailable) return null;
  if (pool.length >= count) return pool.slice(0, count);
  const ready = new Int32Array(new SharedArrayBuffer(4));
  const fresh = Array.from({ length: count - pool.length }, () => {
    const worker = new Worker(WORKER_URL, { workerData: { ready } });
    worker.unref(); // idle workers must not keep the process alive
    return worker;
  });
  for (let seen = Atomics.load(ready, 0); seen < fresh.length; seen = Atomics.load(ready, 0)) {
    if (Atomics.wait(ready, 0, seen, START_TIMEOUT_MS) === "timed-out") {
      fresh.forEach((worker) => worker.terminate());
      unavailable = true;
      return null;
    }
  }
  pool = [...pool, ...fresh];
  return pool.slice(0, count);
};

/** Threads products run on now: 1 when TINA_THREADS=1 or workers could not start. */
export const threadsInUse = (): number => (unavailable ? 1 : threadCount());

/** A copy of `x` in shared memory. */
export const sharedCopy = <T extends Float32Array | Uint16Array>(x: T): T => {
  const copy = new (x.constructor as new (b: SharedArrayBuffer) => T)(
    new SharedArrayBuffer(x.byteLength),
  );
  copy.set(x as never);
  return copy;
};

/** `x` itself when its memory is shared, else a shared copy. */
export const shared = <T extends Float32Array | Uint16Array>(x: T): T =>
  x.buffer instanceof SharedArrayBuffer ? x : sharedCopy(x);

/** [begin, end) column bands, multiples of 4 wide but the last, one per thread. */
const bands = (n: number, threads: number): [number, number][] => {
  const width = Math.ceil(n / threads / 4) * 4;
  return Array.from({ length: threads }, (_, i): [number, number] => [
    Math.min(n, i * width),
    Math.min(n, (i + 1) * width),
  ]).filter(([begin, end]) => end > begin);
};

/**
 * Shared scratch memory reused by every product (kernels run one at a time on this thread):
 * activations are copied in and results copied out, so no shared buffer is left for the
 * garbage collector, which does not count them as heap pressure.
 */
const emptyShared = (): Float32Array => new Float32Array(new SharedArrayBuffer(0));
const scratch: Record<"a" | "b" | "out", Float32Array> = {
  a: emptyShared(),
  b: emptyShared(),
  out: emptyShared(),
};
const scratchOf = (slot: "a" | "b" | "out", length: number): Float32Array => {
  if (scratch[slot].length < length) {
    scratch[slot] = new Float32Array(new SharedArrayBuffer(length * 4));
  }
  return scratch[slot].subarray(0, length);
};
const inScratch = (slot: "a" | "b", x: Float32Array): Float32Array => {
  if (x.buffer instanceof SharedArrayBuffer) return x;
  const copy = scratchOf(slot, x.length);
  copy.set(x);
  return copy;
};
const control = new Int32Array(new SharedArrayBuffer(8));

/** The product of `job` on every thread, or null when it is too small to split. */
export const parallelMatmul = (job: MatmulJob): Float32Array | null => {
  const { batch, m, n, k } = job;
  const threads = Math.min(threadCount(), Math.floor(n / MIN_BAND_COLUMNS));
  if (threads < 2 || batch * m * n * k < MIN_PARALLEL_MACS) return null;
  const [mine, ...theirs] = bands(n, threads);
  const helpers = workers(theirs.length);
  if (helpers === null) return null;
  const out = scratchOf("out", batch * m * n).fill(0);
  const a = inScratch("a", job.a);
  // 16-bit operands are weights, uploaded to shared memory.
  const b = job.b instanceof Float32Array
    ? inScratch("b", job.b)
    : { ...job.b, bits: shared(job.b.bits) };
  Atomics.store(control, 0, 0);
  Atomics.store(control, 1, 0);
  const sent: Band["job"] = {
    ...job,
    a,
    b: b instanceof Float32Array ? b : { bits: b.bits, format: b.format },
  };
  helpers.forEach((worker, i) => {
    const [begin, end] = theirs[i];
    worker.postMessage({ job: sent, out, begin, end, control } satisfies Band);
  });
  matmulColumns({ ...job, a, b }, out, mine[0], mine[1]);
  for (let seen = Atomics.load(control, 0); seen < theirs.length; seen = Atomics.load(control, 0)) {
    if (Atomics.wait(control, 0, seen, BAND_TIMEOUT_MS) === "timed-out") {
      throw new Error(`matmul: a worker thread gave no answer in ${BAND_TIMEOUT_MS / 1000} s`);
    }
  }
  if (Atomics.load(control, 1) !== 0) throw new Error("matmul: a worker thread failed");
  return out.slice();
};
