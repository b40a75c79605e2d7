import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFile } from "node:fs/promises";
import { answersEqual } from "../../lib/rewards/equal.ts";
import { accuracyReward } from "../../lib/rewards/accuracy.ts";
import { parseStructure } from "../../lib/rewards/structure.ts";

// [gold, predicted, equal?] — most taken from Math-Verify's own test suite.
const table: readonly (readonly [string, string, boolean])[] = [
  ["1/2", "0.5", true],
  ["0.5", "\\frac{1}{2}", true],
  ["\\frac{1}{2}", "1/2", true],
  ["7,425,000", "7425000", true],
  ["\\{1,2\\}", "\\{2,1\\}", true],
  ["(1,2)", "(2,1)", false],
  ["x=5", "5", true],
  ["5", "x = 5", true],
  ["3", "4", false],
  ["-5", "-5", true],
  ["\\sqrt{2}/2", "\\frac{\\sqrt2}{2}", true],
  ["10\\%", "0.1", false], // percent is a unit (Math-Verify): 10% equals 10, not 0.1
  ["10\\%", "10", true],
  ["28\\%", "28 percent", true],
  ["0.28", "28", false],
  ["28/100", "28", false],
  ["[1,2)", "[1,2]", false],
  ["[1,2)", "[1,2)", true],
  ["(0,9)", "[0,9)", false],
  ["\\text{5 cm}", "5", true],
  ["125 \\text{ miles}", "125", true],
  ["90^\\circ", "90", true],
  ["\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})", true],
  ["\\text{Evelyn}", "Evelyn", true],
  ["\\text{Evelyn}", "Briana", false],
  ["\\text{(C)}", "C", true],
  ["\\text{(C)}", "D", false],
  ["x^2+2x+1", "(x+1)^2", true],
  ["x^2+2x+1", "(x-1)^2", false],
  ["\\frac{x+2}{7}", "\\frac{x}{7}+\\frac{2}{7}", true],
  ["\\tan^2(y)+1", "\\sec^2(y)", true],
  ["x+2n+1", "x+1", false],
  ["x_1+x_2", "x_2+x_1", true],
  // Floats: both sides rounded to the less precise side (at most 6 decimals).
  ["\\frac{1}{3}", "0.333333", true],
  ["\\frac{1}{3}", "0.3333", true],
  ["\\frac{1}{3}", "0.3334", false],
  ["\\frac{2}{3}", "0.666666", false],
  ["\\pi", "3.141593", true],
  ["\\pi", "3.141592", false],
  ["16386.17", "16386.169", true],
  ["16386.17", "16386.18", false],
  ["\\$16,\\!386.20", "16386.2", true],
  ["3\\times10^{5}", "300000", true],
  ["1.5e3", "1500", true],
  ["2\\frac{1}{3}", "\\frac{7}{3}", true], // mixed number
  ["\\frac{9}{4}\\pi", "\\frac94\\pi", true],
  ["2", "\\frac{1+\\sqrt{5}}{2}", false],
  ["(1,\\frac{9}{2})", "(1,4.5)", true],
  ["(3,5)", "(3,5]", false],
  ["1,2", "2,1", true],
  ["1 \\pm \\sqrt{19}", "1-\\sqrt{19}, 1+\\sqrt{19}", true],
  ["\\{1\\pm\\sqrt{5},-2\\}", "\\{-2, 1+\\sqrt5, 1-\\sqrt5\\}", true],
  ["\\emptyset", "\\varnothing", true],
  ["\\infty", "\\infty", true],
  ["\\infty", "-\\infty", false],
  ["(-\\infty,-3]\\cup[2,\\infty)", "[2,\\infty) \\cup (-\\infty, -3]", true],
  ["[-3,2]", "(-\\infty, -3] \\cup [2, \\infty)", false],
  [
    "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}",
    "\\left[\\begin{array}{cc}1 & 2 \\\\3 & 4\\end{array}\\right]",
    true,
  ],
  [
    "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}",
    "\\begin{pmatrix}1 & 2 \\\\ 3 & 5\\end{pmatrix}",
    false,
  ],
  [
    "\\begin{pmatrix} -1/3 \\\\ 2/3 \\end{pmatrix}",
    "\\begin{pmatrix} 1/3 \\\\ 2/3 \\end{pmatrix}",
    false,
  ],
  // Relations: inequalities flip, equations compare up to a constant factor.
  ["x \\geq 5", "x >= 5", true],
  ["x \\leq 5", "5 \\geq x", true],
  ["x < 1", "-x > -1", true],
  ["x < 1", "x > -1", false],
  ["x > 5", "x < 5", false],
  ["2x+4y-3=0", "y=-\\frac{1}{2}x+\\frac{3}{4}", true],
  ["x^2/4 + y^2/3 = 1", "x^2/16 + y^2/12 = 1/4", true],
  ["x = 11", "x = 5+5+1 = 7 = 11", true],
  ["7 = 11a+c", "11a+c", false],
  ["a+3z = 0", "0", false],
  ["k=1", "1", true],
  ["(p,q) = (1,2)", "(1,2)", true],
  // A gold relation is compared as a set against a set; not the other way round.
  ["x < 3", "(-\\infty, 3)", true],
  ["(-\\infty, 3)", "x < 3", false],
  ["-3 \\le t \\le 4", "t \\in [-3, 4]", true],
  ["1 < |z| < 3", "(-3, -1) \\cup (1, 3)", true],
  // Exactness beyond float64.
  ["10000000000000001", "10000000000000000", false],
  ["10^{100}+1", "10^{100}", false],
  ["\\frac13 + 10^{-20}", "\\frac13", false],
  ["2^{64}", "18446744073709551616", true],
];

test("answer equivalence table", () => {
  for (const [gold, predicted, want] of table) {
    assert.is(answersEqual(gold, predicted), want, `${gold}  vs  ${predicted}`);
  }
});

test("boxed and $-wrapped arguments are accepted", () => {
  assert.ok(answersEqual("$\\frac{1}{2}$", "\\boxed{0.5}"));
  assert.ok(answersEqual("\\boxed{\\{1,2\\}}", "$\\{2, 1\\}$"));
});

test("structures are recognized", () => {
  assert.is(parseStructure("\\{1,2\\}").kind, "set");
  assert.is(parseStructure("(1,2)").kind, "tuple");
  assert.equal(parseStructure("[1,2)"), {
    kind: "interval",
    lo: { kind: "expr", latex: "1" },
    hi: { kind: "expr", latex: "2" },
    loClosed: true,
    hiClosed: false,
  });
  assert.is(parseStructure("(0,1)\\cup(2,3)").kind, "union");
  assert.is(parseStructure("\\begin{pmatrix}1\\\\2\\end{pmatrix}").kind, "matrix");
  assert.is(parseStructure("x \\leq 2").kind, "relation");
  assert.is(parseStructure("(((7)))").kind, "expr");
});

test("accuracy: 1 / 0 / null (gold does not parse)", () => {
  assert.is(accuracyReward("so the answer is \\boxed{\\frac12}", "0.5"), 1);
  assert.is(accuracyReward("so the answer is \\boxed{3}", "0.5"), 0);
  assert.is(accuracyReward("no answer given", "0.5"), 0);
  assert.is(accuracyReward("\\boxed{1}", ""), null);
  assert.is(accuracyReward("\\boxed{1}", "\\frac{1}{"), null);
  assert.is(accuracyReward("\\boxed{1}", "the answer is not known here"), null);
  // A worked solution as gold: its boxed answer is the gold answer.
  assert.is(accuracyReward("$\\boxed{14}$", "We add: $9+5=\\boxed{14}$."), 1);
});

const sampleUrl = new URL("./math500_sample.jsonl", import.meta.url);
const sample = (await readFile(sampleUrl, "utf8")).trim().split("\n")
  .map((line) => JSON.parse(line) as { answer: string });

test("MATH-500 sample: every gold answer equals itself and its boxed completion scores 1", () => {
  assert.is(sample.length, 20);
  for (const { answer } of sample) {
    assert.ok(answersEqual(answer, answer), answer);
    assert.is(accuracyReward(`Therefore, the answer is $\\boxed{${answer}}$.`, answer), 1, answer);
  }
});

test("MATH-500 sample: no gold answer equals the next one", () => {
  for (const [i, { answer }] of sample.entries()) {
    const other = sample[(i + 1) % sample.length].answer;
    assert.is(accuracyReward(`\\boxed{${other}}`, answer), 0, `${answer} vs ${other}`);
  }
});

test.run();
