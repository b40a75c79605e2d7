// Frozen 16-bit weights in the decoding kernel's shared memory (lib/tensor/native/half_arena.ts):
// the allocator's bookkeeping (first fit, merging, the top, the ceiling, exhaustion, double
// frees), and products that read a weight in place giving the same bits as the copying path
// that weights outside the arena take, on one thread and shared out, for every row count the
// kernel serves, odd shapes and the last rows and values of a weight.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { encodeBf16 } from "../../lib/io/half_float.ts";
import { foldIn, normal, prngKey } from "../../lib/random/prng.ts";
import { tsBackend } from "../../lib/tensor/backends.ts";
import { HalfMatrix } from "../../lib/tensor/half.ts";
import { allocate, ARENA_ALIGN, emptyArena, release } from "../../lib/tensor/native/arena.ts";
import {
  arenaAddress,
  arenaMemory,
  arenaScratch,
  arenaView,
  halfInArena,
} from "../../lib/tensor/native/half_arena.ts";
import { bf16RowsTimesTransposed } from "../../lib/tensor/native/half_gemv.ts";
import { bf16Columns, widenInArena } from "../../lib/tensor/native/half_gemv_columns.ts";

const key = prngKey(33);

test("first fit: freed blocks are reused, neighbours merge, a freed top lowers the top", () => {
  let arena = emptyArena(100, 1000); // base rounds up to 128
  const take = (bytes: number) => {
    const placed = allocate(arena, bytes)!;
    arena = placed.arena;
    return placed.at;
  };
  const [a, b, c] = [take(64), take(100), take(64)];
  assert.equal([a, b, c], [128, 192, 320]); // 100 bytes take two lines
  assert.is(arena.top, 384);
  arena = release(arena, a, 64);
  assert.is(take(10), a, "a small block goes into the first free one");
  arena = release(arena, a, 10);
  arena = release(arena, b, 100);
  assert.equal(arena.free, [{ at: 128, bytes: 192 }], "a and b merged");
  arena = release(arena, c, 64);
  assert.equal([arena.free, arena.top], [[], 128], "everything back to the top");
});

test("the limit and a ceiling bound allocations; exhaustion is null, not an exception", () => {
  const arena = emptyArena(0, 1024);
  const whole = allocate(arena, 1024)!;
  assert.equal([whole.at, whole.arena.top], [0, 1024], "the last byte of the arena is usable");
  assert.is(allocate(whole.arena, 1), null);
  assert.is(allocate(arena, 1025), null);
  assert.is(allocate(arena, 512, 500), null, "the ceiling keeps the rest free");
  assert.is(allocate(arena, 448, 500)!.at, 0);
  const full = allocate(allocate(emptyArena(0, 256), 128)!.arena, 128)!.arena;
  const gap = release(full, 0, 128);
  assert.is(allocate(gap, 256), null, "a free block too small is skipped, the top is full");
});

test("bad frees and sizes are refused with the range", () => {
  const placed = allocate(emptyArena(0, 4096), 100)!;
  const freed = release(placed.arena, 0, 100);
  assert.throws(() => release(freed, 0, 100), /\[0, 128\) is not an allocated block/);
  const two = allocate(allocate(emptyArena(0, 4096), 64)!.arena, 64)!.arena;
  const once = release(two, 0, 64);
  assert.throws(() => release(once, 0, 64), /not an allocated block/, "double free");
  assert.throws(() => release(two, 8, 64), /not an allocated block/, "unaligned");
  assert.throws(() => release(two, 4096, 64), /not an allocated block/, "above the top");
  assert.throws(() => allocate(two, -1), /-1 is not a count of bytes/);
  assert.throws(() => emptyArena(10, 5), /\[10, 5\) is not a range of bytes/);
  assert.is(ARENA_ALIGN % 16, 0, "v128 loads stay aligned");
});

test("a weight in the arena is a view of the shared memory with the same values", () => {
  const bits = encodeBf16(normal(foldIn(key, 1), 300 * 7));
  const half = halfInArena(bits, "bf16")!;
  assert.instance(half, HalfMatrix);
  const at = arenaAddress(half.bits)!;
  assert.ok(at >= 65536 && at % ARENA_ALIGN === 0, `address ${at}`);
  assert.is(half.bits.buffer.byteLength <= arenaMemory().buffer.byteLength, true);
  assert.equal(Array.from(half.bits), Array.from(bits));
  assert.is(arenaAddress(bits), null, "a plain array is not in the arena");
  // more than wasm32 can address (a stand-in that is never allocated): refused, not thrown
  const huge = { byteLength: 2 ** 32, length: 2 ** 31 } as unknown as Uint16Array;
  assert.is(halfInArena(huge, "bf16"), null);
});

const sameBits = (got: Float32Array, want: Float32Array, what: string) => {
  assert.is(got.length, want.length, what);
  const differ = got.findIndex((v, i) => !Object.is(v, want[i]));
  assert.is(differ, -1, `${what}: first differing value at ${differ}`);
};

test("in place and copied in band by band: the same bits, one thread or shared out", () => {
  // 1501 x 1001: odd rows, a tail of 1001 % 8 values, bands and chunks that do not divide it.
  for (const [n, k] of [[1501, 1001], [2, 8], [300, 896]]) {
    const plain = encodeBf16(normal(foldIn(key, n), n * k));
    const shared = new Uint16Array(new SharedArrayBuffer(plain.byteLength));
    shared.set(plain);
    const inArena = halfInArena(plain, "bf16")!.bits;
    for (const m of [1, 2, 3, 4, 5, 8]) {
      const x = normal(foldIn(key, 10 * m + n), m * k);
      const results = [inArena, shared, plain].flatMap((bits) => {
        const [one, many] = [new Float32Array(m * n).fill(NaN), new Float32Array(m * n).fill(NaN)];
        bf16Columns(x, bits, m, n, k, 0, n, one);
        bf16RowsTimesTransposed(x, bits, m, n, k, many);
        return [one, many];
      });
      results.forEach((r, i) => sameBits(r, results[0], `[${n}, ${k}], m=${m}, variant ${i}`));
      // the last weight row against float64, so that equal bits are not equal garbage
      const j = n - 1;
      const want = Array.from(plain.subarray(j * k, (j + 1) * k)).reduce(
        (s, b, p) =>
          s + new Float32Array(new Uint32Array([b << 16]).buffer)[0] * x[(m - 1) * k + p],
        0,
      );
      const got = results[0][(m - 1) * n + j];
      assert.ok(Math.abs(got - want) < 1e-4 * (1 + Math.abs(want)), `${got} vs ${want}`);
    }
  }
});

test("a column range computed alone is the same as within the whole product", () => {
  // Odd bounds shift which weight rows the kernel pairs (four rows of x) or takes a quarter of
  // the range apart (one row): every value must come out the same either way.
  const [n, k] = [700, 99];
  const bits = halfInArena(encodeBf16(normal(foldIn(key, 5), n * k)), "bf16")!.bits;
  for (const m of [1, 4, 5, 8]) {
    const x = normal(foldIn(key, 6 + m), m * k);
    const whole = new Float32Array(m * n);
    bf16Columns(x, bits, m, n, k, 0, n, whole);
    const part = new Float32Array(m * n).fill(NaN);
    bf16Columns(x, bits, m, n, k, 123, 458, part);
    for (let i = 0; i < m; i++) {
      const [from, to] = [i * n + 123, i * n + 458];
      sameBits(part.subarray(from, to), whole.subarray(from, to), `m=${m}, row ${i}`);
      assert.ok(part.subarray(i * n, from).every(Number.isNaN), "columns outside untouched");
    }
  }
});

test("BF16 widened in the arena: the same float32 bits as in JavaScript, any count", () => {
  const bits = encodeBf16(normal(foldIn(key, 9), 5000));
  bits[3] = 0x7fc0; // a NaN, an infinity and a subnormal keep their bits
  bits[4] = 0xff80;
  bits[5] = 0x0001;
  const src = halfInArena(bits, "bf16")!.bits;
  for (const count of [0, 1, 7, 8, 31, 32, 33, 100, 4099, 5000]) {
    const dstAt = arenaScratch("widen test", count * 4 + 4);
    const guard = arenaView(Float32Array, dstAt, count + 1);
    guard[count] = 12345;
    widenInArena(arenaAddress(src)!, dstAt, count);
    const want = new Uint32Array(Array.from(bits.subarray(0, count), (b) => b << 16));
    const got = new Uint32Array(guard.buffer, guard.byteOffset, count);
    assert.equal(Array.from(got), Array.from(want), `count ${count}`);
    assert.is(guard[count], 12345, "nothing written past the end");
  }
});

test("the ts backend's 16-bit weights (outside the arena) still multiply as before", () => {
  const [n, k] = [64, 40];
  const bits = encodeBf16(normal(foldIn(key, 7), n * k));
  const half = tsBackend.kernels.uploadHalf!(bits, "bf16", [n, k]) as HalfMatrix;
  assert.is(arenaAddress(half.bits), null);
  const x = normal(foldIn(key, 8), 2 * k);
  const [a, b] = [new Float32Array(2 * n), new Float32Array(2 * n)];
  bf16RowsTimesTransposed(x, half.bits, 2, n, k, a);
  bf16RowsTimesTransposed(x, halfInArena(bits, "bf16")!.bits, 2, n, k, b);
  sameBits(a, b, "ts upload vs arena");
});

test.run();
