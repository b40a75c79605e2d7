/**
 * A native BLAS's single-precision matrix product (cblas_sgemm) through the runtime's FFI:
 * Deno.dlopen on Deno, bun:ffi on Bun. Node has no FFI, so there the BLAS is unavailable with a
 * reason. The library is the system's OpenBLAS (Debian: libopenblas0-pthread), else a
 * libblas.so.3 that exports the CBLAS interface; OpenBLAS runs on every core unless TINA_THREADS
 * says otherwise.
 *
 * Typed arrays are passed as they are: both FFIs hand C the view's own address (byteOffset
 * included) for plain and shared buffers alike. Callers never pass empty arrays (see sgemm).
 */
import { availableParallelism } from "node:os";
import { askedThreads } from "../ts/threads.ts";

/** Row-major C = alpha·op(A)·op(B) + beta·C, as cblas_sgemm takes it (CblasRowMajor). */
export interface Blas {
  /** The shared library this BLAS was loaded from. */
  readonly library: string;
  /** Threads the library runs a product on (1 where it cannot say). */
  readonly threads: number;
  /**
   * Runs `run` with the library on one thread (calls inside included), then restores the count:
   * while it runs, other threads of this process may call the library too (./half_gemv.ts).
   */
  onOneThread(run: () => void): void;
  /**
   * C[m, n] (leading dimension ldc) = op(A)[m, k] · op(B)[k, n] + beta·C, op transposing when
   * asked; A and B are read through their leading dimensions lda and ldb. m, n and k > 0.
   */
  sgemm(
    transposeA: boolean,
    transposeB: boolean,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    lda: number,
    b: Float32Array,
    ldb: number,
    beta: number,
    c: Float32Array,
    ldc: number,
  ): void;
  /**
   * y = op(A) · x + beta·y for A stored [rows, cols] (leading dimension lda), op transposing
   * when asked; x and y are read every incX / incY values. rows and cols > 0.
   */
  sgemv(
    transposeA: boolean,
    rows: number,
    cols: number,
    a: Float32Array,
    lda: number,
    x: Float32Array,
    incX: number,
    beta: number,
    y: Float32Array,
    incY: number,
  ): void;
}

/** The libraries tried, in order. */
export const BLAS_LIBRARIES = ["libopenblas.so.0", "libopenblas.so", "libblas.so.3"] as const;

const ROW_MAJOR = 101;
const NO_TRANS = 111;
const TRANS = 112;

/** TINA_THREADS (the thread knob lib/tensor/ts/threads.ts also reads), else every core. */
export const blasThreadCount = (): number => askedThreads() ?? availableParallelism();

/** The C functions used, as one FFI's symbols. */
interface Symbols {
  cblas_sgemm(...args: (number | Float32Array)[]): void;
  cblas_sgemv(...args: (number | Float32Array)[]): void;
}
interface ThreadSymbols {
  openblas_set_num_threads(n: number): void;
  openblas_get_num_threads(): number;
}
/** Opens `library` with the symbols named (types by the FFI's own spelling), or throws. */
type Open = <S>(library: string, symbols: Record<keyof S, [string[], string]>) => S;

const SGEMM_ARGS = [
  ["i32", "i32", "i32", "i32", "i32", "i32"],
  ["f32", "ptr", "i32", "ptr", "i32", "f32", "ptr", "i32"],
].flat();
const SGEMV_ARGS = [
  ["i32", "i32", "i32", "i32"],
  ["f32", "ptr", "i32", "ptr", "i32", "f32", "ptr", "i32"],
].flat();

interface DenoFfi {
  dlopen(
    library: string,
    symbols: Record<string, { parameters: string[]; result: string }>,
  ): { symbols: unknown };
}

/** Each symbol's [argument types, result type] in one FFI's spelling of a declaration. */
const spelled = <D>(
  symbols: Record<string, [string[], string]>,
  declaration: (args: string[], result: string) => D,
): Record<string, D> =>
  Object.fromEntries(
    Object.entries(symbols).map(([name, [args, result]]) => [name, declaration(args, result)]),
  );

/** The FFI of this runtime, or why there is none. */
const runtimeFfi = (): Open | string => {
  const deno = (globalThis as { Deno?: DenoFfi }).Deno;
  if (deno) {
    return (library, symbols) =>
      deno.dlopen(
        library,
        spelled(symbols, (args, result) => ({
          parameters: args.map((t) => (t === "ptr" ? "buffer" : t)),
          result,
        })),
      ).symbols as never;
  }
  if ("Bun" in globalThis) {
    // Bun's synchronous require: a dynamic import of "bun:ffi" would be unanalyzable to
    // `deno publish` and unresolvable to tsc.
    const ffi = (import.meta as unknown as { require(id: string): unknown }).require("bun:ffi") as {
      dlopen(library: string, symbols: Record<string, { args: string[]; returns: string }>): {
        symbols: unknown;
      };
    };
    return (library, symbols) =>
      ffi.dlopen(library, spelled(symbols, (args, returns) => ({ args, returns })))
        .symbols as never;
  }
  return "this runtime has no FFI (Deno and Bun have one; Node does not)";
};

/** The first line of an error, for a reason. */
const firstLine = (e: unknown): string => String((e as Error)?.message ?? e).split("\n")[0];

/**
 * The BLAS of this machine set to `threads`, or an Error saying why there is none (no FFI, no
 * library, no cblas_sgemm in it), naming what was tried. `threads` null: the library's thread
 * count is left as another thread of this process set it, and never changed (a worker calling
 * it inside that thread's onOneThread).
 */
export const loadBlas = (threads: number | null = blasThreadCount()): Blas => {
  const open = runtimeFfi();
  if (typeof open === "string") throw new Error(`native BLAS unavailable: ${open}`);
  const failures: string[] = [];
  for (const library of BLAS_LIBRARIES) {
    let symbols: Symbols;
    try {
      symbols = open<Symbols>(library, {
        cblas_sgemm: [SGEMM_ARGS, "void"],
        cblas_sgemv: [SGEMV_ARGS, "void"],
      });
    } catch (e) {
      failures.push(`${library}: ${firstLine(e)}`);
      continue;
    }
    const { count, set } = threads === null
      ? { count: 1, set: () => {} }
      : threadControl(open, library, threads);
    let depth = 0; // nested calls: only the outermost sets and restores the count
    const oneThread = (run: () => void): void => {
      if (depth++ === 0) set(1);
      try {
        run();
      } finally {
        if (--depth === 0) set(count);
      }
    };
    return {
      library,
      threads: count,
      onOneThread: oneThread,
      sgemm: sgemmOf(symbols, count > 1 ? oneThread : (run) => run()),
      sgemv: sgemvOf(symbols, count > 1 ? oneThread : (run) => run()),
    };
  }
  throw new Error(
    `native BLAS unavailable: no CBLAS library loads (${failures.join("; ")}); on Debian or ` +
      `Ubuntu: apt-get install libopenblas0-pthread`,
  );
};

/**
 * OpenBLAS's thread count set to `threads`, and a way to change it; 1 (and nothing to change) for
 * a BLAS without OpenBLAS's thread calls.
 */
const threadControl = (
  open: Open,
  library: string,
  threads: number,
): { readonly count: number; readonly set: (n: number) => void } => {
  try {
    const t = open<ThreadSymbols>(library, {
      openblas_set_num_threads: [["i32"], "void"],
      openblas_get_num_threads: [[], "i32"],
    });
    t.openblas_set_num_threads(threads);
    return { count: t.openblas_get_num_threads(), set: (n) => t.openblas_set_num_threads(n) };
  } catch {
    return { count: 1, set: () => {} };
  }
};

/** Throws unless `x` holds a [rows, cols] matrix read with leading dimension `ld`. */
const checkExtent = (
  call: string,
  x: Float32Array,
  rows: number,
  cols: number,
  ld: number,
  what: string,
) => {
  if (!(rows > 0 && cols > 0)) throw new Error(`${call}: ${what} is empty ([${rows}, ${cols}])`);
  if (ld < cols || (rows - 1) * ld + cols > x.length) {
    throw new Error(
      `${call}: ${what} holds ${x.length} values, too few for [${rows}, ${cols}] at leading ` +
        `dimension ${ld}`,
    );
  }
};

/**
 * Below this many multiply-adds (~30 µs on one core) a product runs on one OpenBLAS thread: waking
 * its threads costs more than they save, and on a loaded machine a thread kept off its core
 * stalls every call (0.5B decoding at 2 threads: matmulAdd's small products took 6 of 7.5 s).
 */
const ONE_THREAD_MACS = 1 << 22;
/** Runs a call on one OpenBLAS thread, then restores the count. */
type OneThread = (run: () => void) => void;

// C reads past a typed array's end without a word, so every extent is checked before a call.
const sgemmOf =
  (symbols: Symbols, oneThread: OneThread): Blas["sgemm"] =>
  (transposeA, transposeB, m, n, k, a, lda, b, ldb, beta, c, ldc) => {
    checkExtent("sgemm", a, transposeA ? k : m, transposeA ? m : k, lda, "A");
    checkExtent("sgemm", b, transposeB ? n : k, transposeB ? k : n, ldb, "B");
    checkExtent("sgemm", c, m, n, ldc, "C");
    const [opA, opB] = [transposeA ? TRANS : NO_TRANS, transposeB ? TRANS : NO_TRANS];
    const call = () =>
      symbols.cblas_sgemm(ROW_MAJOR, opA, opB, m, n, k, 1, a, lda, b, ldb, beta, c, ldc);
    if (m * n * k < ONE_THREAD_MACS) oneThread(call);
    else call();
  };

const sgemvOf =
  (symbols: Symbols, oneThread: OneThread): Blas["sgemv"] =>
  (transposeA, rows, cols, a, lda, x, incX, beta, y, incY) => {
    checkExtent("sgemv", a, rows, cols, lda, "A");
    // A vector of n values every inc is a [n, 1] matrix with leading dimension inc.
    checkExtent("sgemv", x, transposeA ? rows : cols, 1, incX, "x");
    checkExtent("sgemv", y, transposeA ? cols : rows, 1, incY, "y");
    const op = transposeA ? TRANS : NO_TRANS;
    const call = () =>
      symbols.cblas_sgemv(ROW_MAJOR, op, rows, cols, 1, a, lda, x, incX, beta, y, incY);
    if (rows * cols < ONE_THREAD_MACS) oneThread(call);
    else call();
  };
