// freeBuffer frees a whole plain ArrayBuffer at once (detached: length 0) where the runtime has
// ArrayBuffer.prototype.transfer (Deno, Bun), and never touches shared memory or a view into a
// larger buffer, whose other parts may still be in use; collectNow collects on Bun.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { collectNow, freeBuffer } from "../../lib/io/free_buffer.ts";

const canFree = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === "function";

test("a whole plain buffer is freed where the runtime can, else left to the collector", () => {
  const x = new Uint16Array(1000).fill(7);
  freeBuffer(x);
  assert.is(x.length, canFree ? 0 : 1000);
  assert.is(x.buffer.byteLength, canFree ? 0 : 2000);
});

test("views into larger buffers and shared memory are left alone", () => {
  const whole = new Float32Array(64).fill(1);
  freeBuffer(whole.subarray(0, 32));
  freeBuffer(whole.subarray(32));
  assert.is(whole.length, 64);
  assert.ok(whole.every((v) => v === 1));
  const shared = new Int32Array(new SharedArrayBuffer(256));
  freeBuffer(shared);
  assert.is(shared.length, 64);
});

test("collectNow frees dropped objects at once on Bun, and is harmless elsewhere", async () => {
  const refs = Array.from({ length: 100 }, () => new WeakRef(new Float32Array(1024)));
  await new Promise((done) => setTimeout(done, 0)); // WeakRef targets live out the current job
  collectNow();
  const alive = refs.filter((r) => r.deref() !== undefined).length;
  // JavaScriptCore scans the stack conservatively: a stray word may keep one or two alive.
  if ("Bun" in globalThis) assert.ok(alive <= 5, `${alive} of 100 still alive`);
});

test.run();
