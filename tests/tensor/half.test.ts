// 16-bit weights on the pure-TS backend: products, row lookups and every other kernel give
// exactly what the widened float32 matrix gives, and the buffer stays two bytes a value.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { decodeBf16, decodeF16, encodeBf16, encodeF16 } from "../../lib/io/half_float.ts";
import { foldIn, normal, prngKey } from "../../lib/random/prng.ts";
import { type HalfFormat, HalfMatrix } from "../../lib/tensor/half.ts";
import { tsBackend } from "../../lib/tensor/backends.ts";
import { meteredBackend } from "../../lib/tensor/metered.ts";

const k = tsBackend.kernels;
const key = prngKey(41);
const formats: [HalfFormat, (x: Float32Array) => Uint16Array, (b: Uint16Array) => Float32Array][] =
  [["bf16", encodeBf16, decodeBf16], ["f16", encodeF16, decodeF16]];

for (const [format, encode, decode] of formats) {
  const [n, d] = [37, 19];
  const bits = encode(normal(foldIn(key, 1), n * d));
  const wide = decode(bits);
  const half = k.uploadHalf!(bits, format, [n, d]);

  test(`${format}: matmul against the widened weight, transposed or not, batched`, () => {
    const x = normal(foldIn(key, 2), 3 * 5 * d);
    const viaHalf = k.matmul(x, [3, 5, d], half, [n, d], false, true);
    const viaWide = k.matmul(x, [3, 5, d], wide, [n, d], false, true);
    assert.equal(viaHalf, viaWide);
    const g = normal(foldIn(key, 3), 4 * n);
    assert.equal(
      k.matmul(g, [4, n], half, [n, d], false, false),
      k.matmul(g, [4, n], wide, [n, d], false, false),
    );
    // 16-bit on the left is widened first.
    assert.equal(
      k.matmul(half, [n, d], g, [4, n], true, true),
      k.matmul(wide, [n, d], g, [4, n], true, true),
    );
  });

  test(`${format}: embedding rows, other kernels and read-back widen exactly`, async () => {
    const ids = Int32Array.from([0, 36, 5, 5, 17]);
    assert.equal(k.gather(half, [n, d], ids, [5], 0), k.gather(wide, [n, d], ids, [5], 0));
    // Along the other axis (not an embedding lookup): widened first, same values.
    const cols = Int32Array.from([18, 0]);
    assert.equal(k.gather(half, [n, d], cols, [2], 1), k.gather(wide, [n, d], cols, [2], 1));
    const one = new Float32Array(d).fill(1);
    assert.equal(
      k.binary("add", half, [n, d], one, [d], [n, d], "float32"),
      k.binary("add", wide, [n, d], one, [d], [n, d], "float32"),
    );
    assert.equal(await k.download(half, [n, d], "float32"), wide);
    assert.equal(k.downloadSync!(half, [n, d], "float32"), wide);
  });
}

test("a 16-bit weight is counted at two bytes a value", () => {
  const { backend, meter } = meteredBackend(tsBackend);
  backend.kernels.uploadHalf!(new Uint16Array(1000), "bf16", [10, 100]);
  assert.is(meter.live(), 2000);
  assert.ok(new HalfMatrix(new Uint16Array(3), "f16").byteLength === 6);
});

test.run();
