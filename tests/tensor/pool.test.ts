// The buffer pool frees what it lets go of at once (a detached ArrayBuffer) where the runtime can
// (ArrayBuffer.prototype.transfer: Deno, Bun), instead of leaving it to the collector: the
// buffers released longest ago past its limit (its floor, or the peak in use less what is in use
// now), and buffers larger than the limit. Shared memory,
// views into larger buffers and buffers still held by another handle are never freed.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bufferPool } from "../../lib/tensor/ts/pool.ts";

const canFree = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === "function";
const VALUES = 4096; // 16 KB each
const BYTES = VALUES * 4;

/** Whether `x` was freed: detached (length 0) where the runtime frees, else left whole. */
const assertFreed = (x: Float32Array, what: string): void =>
  assert.is(x.length, canFree ? 0 : VALUES, `${what}: ${canFree ? "freed" : "left whole"}`);

test("past the floor, the buffers released longest ago are freed and the newest kept", () => {
  const pool = bufferPool(3 * (BYTES + 16));
  // One at a time (lengths differ, so none is reused): the peak in use is one buffer.
  const xs = Array.from({ length: 5 }, (_, i) => {
    const x = pool.take("float32", VALUES + i, false) as Float32Array;
    pool.release(x.fill(i + 1));
    return x;
  });
  assert.ok(pool.pooled() <= 3 * (BYTES + 16), `${pool.pooled()} bytes pooled`);
  [0, 1].forEach((i) => assert.is(xs[i].length, canFree ? 0 : VALUES + i, `buffer ${i} freed`));
  xs.slice(2).forEach((x, i) => assert.is(x[0], i + 3, "the kept ones hold their values"));
  const reused = xs.slice(2).map((x) => pool.take("float32", x.length, false));
  assert.equal(reused, xs.slice(2), "the kept ones are handed out again");
  assert.is(pool.pooled(), 0);
});

test("buffers once in use together are all kept, until new sizes in use need the room", () => {
  const pool = bufferPool(BYTES, 16 * BYTES);
  const xs = Array.from({ length: 4 }, () => pool.take("float32", VALUES, false) as Float32Array);
  xs.forEach(pool.release);
  assert.is(pool.pooled(), 4 * BYTES, "the peak in use (4 buffers) may wait idle");
  const again = Array.from({ length: 4 }, () => pool.take("float32", VALUES, false));
  assert.equal(new Set(again), new Set(xs), "and is handed out again");
  again.forEach(pool.release);
  // 3 new buffers of twice the size: each fresh one shrinks the room for idle ones to the floor.
  const others = Array.from({ length: 3 }, () => pool.take("float32", 2 * VALUES, false));
  assert.is(pool.pooled(), BYTES, "the floor is left");
  if (canFree) assert.is(xs.filter((x) => x.length === 0).length, 3, "the 3 released first freed");
  others.forEach(pool.release);
});

test("past the whole working set, the pool keeps its floor only", () => {
  const pool = bufferPool(BYTES, 3 * BYTES);
  const xs = Array.from({ length: 4 }, () => pool.take("float32", VALUES, false) as Float32Array);
  xs.forEach(pool.release);
  assert.is(pool.pooled(), BYTES, "4 buffers in use together passed the 3 kept whole");
  if (canFree) assert.is(xs.filter((x) => x.length === 0).length, 3, "the 3 released first freed");
});

test("a buffer larger than the floor is freed on release, not pooled", () => {
  const pool = bufferPool(BYTES / 2);
  const x = pool.take("float32", VALUES, true) as Float32Array;
  pool.release(x);
  assertFreed(x, "the large buffer");
  assert.is(pool.pooled(), 0);
});

test("shared memory, views and buffers still held elsewhere are never freed", () => {
  const pool = bufferPool(BYTES / 2);
  const shared = pool.take("float32", VALUES, false, true) as Float32Array;
  pool.release(shared);
  assert.is(shared.length, VALUES, "shared memory cannot be detached");
  const whole = new Float32Array(2 * VALUES);
  pool.release(whole.subarray(0, VALUES));
  assert.is(whole.length, 2 * VALUES, "a view leaves its buffer alone");
  const held = pool.retain(pool.take("float32", VALUES, false) as Float32Array);
  pool.release(held);
  assert.is(held.length, VALUES, "one handle is left");
  pool.release(held);
  assertFreed(held, "after its last handle");
});

test("a buffer released twice is an error", () => {
  const pool = bufferPool(4 * BYTES);
  const x = pool.take("int32", VALUES, true);
  pool.release(x);
  assert.throws(() => pool.release(x), /released twice/);
});

test.run();
