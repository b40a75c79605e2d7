import { test } from "uvu";
import * as assert from "uvu/assert";
import { decodeBf16, decodeF16, encodeBf16, encodeF16 } from "../../lib/io/mod.ts";

const allPatterns = Uint16Array.from({ length: 65536 }, (_, i) => i);
const isNaNPattern = (bits: number, exponentMask: number, mantissaMask: number) =>
  (bits & exponentMask) === exponentMask && (bits & mantissaMask) !== 0;

test("every non-NaN F16 and BF16 pattern survives decode then encode", () => {
  for (
    const [name, decode, encode, exponent, mantissa] of [
      ["F16", decodeF16, encodeF16, 0x7c00, 0x3ff],
      ["BF16", decodeBf16, encodeBf16, 0x7f80, 0x7f],
    ] as const
  ) {
    const back = encode(decode(allPatterns));
    const bad = allPatterns.findIndex((bits, i) =>
      isNaNPattern(bits, exponent, mantissa)
        ? !isNaNPattern(back[i], exponent, mantissa)
        : back[i] !== bits
    );
    assert.is(
      bad,
      -1,
      `${name} pattern 0x${bad.toString(16)} came back as 0x${back[bad]?.toString(16)}`,
    );
  }
});

test("F16 decodes normals, subnormals and the extremes to their exact values", () => {
  const values = Array.from(
    decodeF16(new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0400, 0x0001, 0x03ff, 0x7c00])),
  );
  assert.equal(values, [1, -2, 65504, 2 ** -14, 2 ** -24, 1023 * 2 ** -24, Infinity]);
});

test("F16 encoding rounds subnormals to nearest even and overflows to infinity", () => {
  const bits = Array.from(
    encodeF16(new Float32Array([1.5 * 2 ** -24, 2.5 * 2 ** -24, 65519, 1e6, -1e-10])),
  );
  assert.equal(bits, [0x0002, 0x0002, 0x7bff, 0x7c00, 0x8000]);
});

test.run();
