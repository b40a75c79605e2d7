/**
 * The memory the decoding kernel (./assembly/half_gemv.ts) reads: one shared WebAssembly.Memory
 * that its instance on this thread and on every worker import. The native backend uploads frozen
 * 16-bit weights into it, so a product reads each weight where it lies instead of copying it
 * into the kernel's memory band by band (about 1 GB copied per decoding step at the 0.5B shape,
 * half of batch 1's time). The same bytes are a Uint16Array view for every other kernel
 * (sgemm bands, the embedding lookup), so the weights are stored once, as before.
 *
 * wasm32 addresses reach 4 GiB: the 1.5B shape's 3.55 GB fits. Weights that do not fit (larger
 * models, or a runtime that will not grow the memory) stay in a SharedArrayBuffer of their own and
 * take the copying path (./half_gemv_columns.ts); SCRATCH_RESERVE bytes are always left for the
 * products' rows, outputs and bands. A weight's block is freed when its handle is collected,
 * never on dispose: handles are shared between tensors without counts (broadcastTo), so an early
 * free could hand live bytes out again.
 */
import { type HalfFormat, HalfMatrix } from "../half.ts";
import { allocate, type Arena, emptyArena, release } from "./arena.ts";
import { growTo, WASM_PAGE_BYTES } from "../wasm/host.ts";

/** wasm32's whole address space (65536 pages); only the pages used are ever grown. */
export const ARENA_PAGES = 65536;
/** Kept free of weights for scratch: rows, outputs (8 x 151936 logits: 5 MB) and bands. */
const SCRATCH_RESERVE = 64 << 20;
/** Page 0 is left to the module (its static data and stack, if any). */
const BASE = WASM_PAGE_BYTES;

let memory: WebAssembly.Memory | null = null;
let arena: Arena = emptyArena(BASE, ARENA_PAGES * WASM_PAGE_BYTES);
/** Every buffer object of the memory handed out (a new one after each growth). */
const buffers = new WeakSet<ArrayBufferLike>();

/** The shared memory (created on first use; growing never moves it). */
export const arenaMemory = (): WebAssembly.Memory => {
  memory ??= new WebAssembly.Memory({ initial: 1, maximum: ARENA_PAGES, shared: true });
  return memory;
};

/** On a worker: the main thread's memory (handed over in workerData) instead of a new one. */
export const adoptArenaMemory = (shared: WebAssembly.Memory): void => {
  if (memory !== null && memory !== shared) {
    throw new Error("half arena: this thread already has a memory of its own");
  }
  memory = shared;
};

/** The memory's current buffer, grown first to reach `end` bytes. */
const bufferReaching = (end: number): SharedArrayBuffer => {
  const m = arenaMemory();
  growTo(m, end);
  const buffer = m.buffer as unknown as SharedArrayBuffer;
  buffers.add(buffer);
  return buffer;
};

/** Where `view` starts in the arena's memory, or null when it lies elsewhere. */
export const arenaAddress = (view: ArrayBufferView): number | null =>
  buffers.has(view.buffer) ? view.byteOffset : null;

const freeOnCollect = new FinalizationRegistry<{ at: number; bytes: number }>(({ at, bytes }) => {
  arena = release(arena, at, bytes);
});

/**
 * A copy of `bits` in the arena as a 16-bit weight, or null when the arena cannot hold it
 * (then the caller keeps it elsewhere).
 */
export const halfInArena = (bits: Uint16Array, format: HalfFormat): HalfMatrix | null => {
  const placed = allocate(arena, bits.byteLength, arena.limit - SCRATCH_RESERVE);
  if (placed === null) return null;
  let buffer: SharedArrayBuffer;
  try {
    buffer = bufferReaching(placed.at + bits.byteLength);
  } catch {
    return null; // the runtime would not grow the memory that far: the copying path instead
  }
  arena = placed.arena;
  const view = new Uint16Array(buffer, placed.at, bits.length);
  view.set(bits);
  const half = new HalfMatrix(view, format);
  freeOnCollect.register(half, { at: placed.at, bytes: bits.byteLength });
  return half;
};

/** Named scratch blocks, each grown (freed and allocated again) when asked for more. */
const scratch = new Map<string, { at: number; bytes: number }>();

/**
 * The address of at least `bytes` of scratch under `name`, valid until the next call with that
 * name (kernels run one at a time on this thread; workers only read and write while a product
 * waits for them). Throws when the arena is full (SCRATCH_RESERVE makes that a bug).
 */
export const arenaScratch = (name: string, bytes: number): number => {
  const held = scratch.get(name);
  if (held && held.bytes >= bytes) return held.at;
  if (held) arena = release(arena, held.at, held.bytes);
  const placed = allocate(arena, bytes);
  if (placed === null) {
    throw new Error(`half arena: no room for ${bytes} bytes of scratch (${name})`);
  }
  arena = placed.arena;
  bufferReaching(placed.at + bytes);
  scratch.set(name, { at: placed.at, bytes });
  return placed.at;
};

/** A view of `length` values of the arena from byte `at` (after any growth). */
export const arenaView = <T extends Float32Array | Uint16Array>(
  type: {
    new (buffer: SharedArrayBuffer, at: number, length: number): T;
    readonly BYTES_PER_ELEMENT: number;
  },
  at: number,
  length: number,
): T => new type(bufferReaching(at + length * type.BYTES_PER_ELEMENT), at, length);
