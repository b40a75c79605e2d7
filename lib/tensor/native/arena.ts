/**
 * A first-fit allocator of byte ranges below a limit, as immutable values: the free blocks
 * (sorted, never touching each other) and the top, above which nothing was ever handed out. It
 * only does the bookkeeping; ./half_arena.ts lays weights and scratch out in a shared
 * WebAssembly.Memory with it.
 */

/** A range of bytes [at, at + bytes). */
export interface Block {
  readonly at: number;
  readonly bytes: number;
}

/** Bytes from `base` to `limit`: the blocks freed below `top`, and everything above it. */
export interface Arena {
  readonly free: readonly Block[];
  readonly top: number;
  readonly limit: number;
}

/** Blocks start on cache lines, so no two allocations share one and SIMD loads are aligned. */
export const ARENA_ALIGN = 64;

const aligned = (bytes: number): number => Math.ceil(bytes / ARENA_ALIGN) * ARENA_ALIGN;

/** An arena handing out [base, limit); base is rounded up to ARENA_ALIGN. */
export const emptyArena = (base: number, limit: number): Arena => {
  if (!(Number.isSafeInteger(base) && Number.isSafeInteger(limit) && 0 <= base && base <= limit)) {
    throw new Error(`emptyArena: [${base}, ${limit}) is not a range of bytes`);
  }
  return { free: [], top: aligned(base), limit };
};

/**
 * `bytes` (rounded up to ARENA_ALIGN) from the first free block that holds them, else from the
 * top; null when neither can without passing `ceiling` (default: the arena's limit; a lower one
 * keeps the rest for other uses).
 */
export const allocate = (
  arena: Arena,
  bytes: number,
  ceiling = arena.limit,
): { readonly arena: Arena; readonly at: number } | null => {
  if (!(Number.isSafeInteger(bytes) && bytes >= 0)) {
    throw new Error(`allocate: ${bytes} is not a count of bytes`);
  }
  const size = Math.max(ARENA_ALIGN, aligned(bytes));
  const end = Math.min(ceiling, arena.limit);
  const i = arena.free.findIndex((b) => b.bytes >= size && b.at + size <= end);
  if (i >= 0) {
    const block = arena.free[i];
    const rest = block.bytes === size ? [] : [{ at: block.at + size, bytes: block.bytes - size }];
    const free = [...arena.free.slice(0, i), ...rest, ...arena.free.slice(i + 1)];
    return { arena: { ...arena, free }, at: block.at };
  }
  if (arena.top + size > end) return null;
  return { arena: { ...arena, top: arena.top + size }, at: arena.top };
};

/**
 * The arena with the block of `bytes` at `at` (as allocated) free again: merged with free
 * neighbours, and given back to the top when it ends there. Throws on a range never handed out
 * or already free (a double free would hand the same bytes out twice).
 */
export const release = (arena: Arena, at: number, bytes: number): Arena => {
  const size = Math.max(ARENA_ALIGN, aligned(bytes));
  const overlaps = (b: Block) => b.at < at + size && at < b.at + b.bytes;
  if (at % ARENA_ALIGN !== 0 || at + size > arena.top || arena.free.some(overlaps)) {
    throw new Error(`release: [${at}, ${at + size}) is not an allocated block`);
  }
  const before = arena.free.filter((b) => b.at + b.bytes < at);
  const after = arena.free.filter((b) => b.at > at + size);
  const left = arena.free.find((b) => b.at + b.bytes === at);
  const right = arena.free.find((b) => b.at === at + size);
  const start = left?.at ?? at;
  const merged = { at: start, bytes: (right ? right.at + right.bytes : at + size) - start };
  if (merged.at + merged.bytes === arena.top) {
    return { ...arena, free: before, top: merged.at };
  }
  return { ...arena, free: [...before, merged, ...after] };
};
