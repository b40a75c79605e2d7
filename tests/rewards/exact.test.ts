import { test } from "uvu";
import * as assert from "uvu/assert";
import { exactValue, roundRational } from "../../lib/rewards/exact.ts";

const value = (latex: string) => {
  const r = exactValue(latex);
  return r && `${r.num}/${r.den}`;
};

test("numeric LaTeX evaluates to a reduced fraction, exactly", () => {
  assert.is(value("12"), "12/1");
  assert.is(value("-\\frac{3}{4}"), "-3/4");
  assert.is(value("\\frac{6}{-8}"), "-3/4");
  assert.is(value("0.25 \\cdot 8"), "2/1");
  assert.is(value(".4"), "2/5");
  assert.is(value("(1+2)*3 - 2^3"), "1/1");
  assert.is(value("10^{100}+1"), `${10n ** 100n + 1n}/1`);
  assert.is(value("\\frac{1}{3} + 10^{-20}"), `${10n ** 20n + 3n}/${3n * 10n ** 20n}`);
  assert.is(value("2^{64}"), "18446744073709551616/1");
});

test("mixed numbers: 2\\frac{1}{3} and 4 4/9", () => {
  assert.is(value("2\\frac{1}{3}"), "7/3");
  assert.is(value("4 4/9"), "40/9");
  assert.is(value("137 \\frac{1}{2}"), "275/2");
  assert.is(value("4 4/9 + 1"), null); // not a mixed number: an implicit product, left alone
});

test("anything not purely numeric, or too big to compute, is null", () => {
  for (
    const latex of ["x+1", "\\sqrt{2}", "\\pi", "2^10", "1.5e3", "\\frac{1}{0}", "9^{9^{9}}", ""]
  ) {
    assert.is(exactValue(latex), null, latex);
  }
});

test("rounding is half away from zero", () => {
  const round = (num: bigint, den: bigint, digits: number) => {
    const r = roundRational({ num, den }, digits);
    return `${r.num}/${r.den}`;
  };
  assert.is(round(2n, 3n, 4), "6667/10000");
  assert.is(round(-2n, 3n, 4), "-6667/10000");
  assert.is(round(1n, 8n, 2), "13/100"); // 0.125 → 0.13
  assert.is(round(1n, 3n, 0), "0/1");
});

test.run();
