import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  arithmeticSplits,
  type Example,
  generateArithmetic,
} from "../../lib/data/tasks/arithmetic.ts";
import { usesTaskAlphabet } from "../../lib/data/prompt.ts";
import { prngKey } from "../../lib/random/prng.ts";

const expressionOf = (e: Example): string => e.problem.replace(/^Compute (.*)\.$/, "$1");

/** An evaluator independent of the generator's: fold products, then sum signed terms. */
const evaluate = (expression: string): number => {
  let s = expression;
  while (/\d+\*\d+/.test(s)) s = s.replace(/(\d+)\*(\d+)/, (_, a, b) => `${Number(a) * Number(b)}`);
  return (s.match(/[+-]?\d+/g) ?? []).reduce((sum, term) => sum + Number(term), 0);
};

const checkSolution = (e: Example) => {
  const m = e.solution.match(/^<think>\n([^]*)\n<\/think>\n<answer>\n(.*)\n<\/answer>$/);
  assert.ok(m, `solution not in the reasoning format: ${JSON.stringify(e.solution)}`);
  const [, thinking, answer] = m!;
  assert.is(answer, e.answer);
  assert.is(Number(e.answer), evaluate(expressionOf(e)), e.problem);
  const steps = thinking.split("\n");
  steps.forEach((step) => {
    const s = step.match(/^(-?\d+)([+\-*])(\d+)=(-?\d+)$/);
    assert.ok(s, `bad step ${JSON.stringify(step)} in ${e.problem}`);
    const [a, b, c] = [Number(s![1]), Number(s![3]), Number(s![4])];
    assert.is(s![2] === "+" ? a + b : s![2] === "-" ? a - b : a * b, c, step);
  });
  assert.is(steps[steps.length - 1].split("=")[1], e.answer);
};

test("same key, same problems; a longer stream extends a shorter one", () => {
  const a = generateArithmetic(prngKey(5), 20);
  assert.equal(generateArithmetic(prngKey(5), 20), a);
  assert.equal(generateArithmetic(prngKey(5), 5), a.slice(0, 5));
  assert.not.equal(generateArithmetic(prngKey(6), 20), a);
});

test("pinned problems agree on every runtime", () => {
  assert.equal(generateArithmetic(prngKey(1), 2).map((e) => e.problem), [
    "Compute 2+5-8.",
    "Compute 2+6.",
  ]);
});

test("every solution's arithmetic is right and ends in the answer field", () => {
  generateArithmetic(prngKey(7), 300).forEach(checkSolution);
  generateArithmetic(prngKey(8), 300, { operators: ["+", "-", "*"], maxOperands: 4 })
    .forEach(checkSolution);
});

test("products are worked before sums", () => {
  const e = generateArithmetic(prngKey(9), 400, { operators: ["+", "*"] })
    .find((x) => /\d\+\d+\*/.test(x.problem));
  assert.ok(e, "expected some a+b*c problem");
  const firstStep = e!.solution.split("\n")[1];
  assert.match(firstStep, /^\d+\*\d+=/);
});

test("operand counts and values stay within the options", () => {
  const opts = { minOperands: 2, maxOperands: 4, maxValue: 20, maxFactor: 3 };
  const examples = generateArithmetic(prngKey(10), 300, { ...opts, operators: ["-", "*"] });
  const counts = new Set<number>();
  examples.forEach((e) => {
    const expression = expressionOf(e);
    const operands = expression.split(/[+\-*]/).map(Number);
    counts.add(operands.length);
    operands.forEach((v) => assert.ok(v >= 0 && v <= opts.maxValue, e.problem));
    (expression.match(/\d+(?=\*)|(?<=\*)\d+/g) ?? [])
      .forEach((f) => assert.ok(Number(f) <= opts.maxFactor, e.problem));
  });
  assert.equal([...counts].sort(), [2, 3, 4]);
});

test("problems, solutions and answers use only the task alphabet", () => {
  const examples = generateArithmetic(prngKey(11), 200, { operators: ["+", "-", "*"] });
  examples.forEach((e) => {
    assert.ok(usesTaskAlphabet(e.problem + e.solution + e.answer), JSON.stringify(e));
  });
});

test("splits are disjoint; held-out is distinct and depends only on the seed", () => {
  const { train, heldOut } = arithmeticSplits(3, { train: 500, heldOut: 100 });
  assert.is(train.length, 500);
  assert.is(heldOut.length, 100);
  const heldOutProblems = new Set(heldOut.map((e) => e.problem));
  assert.is(heldOutProblems.size, 100);
  assert.ok(train.every((e) => !heldOutProblems.has(e.problem)));
  assert.equal(arithmeticSplits(3, { train: 7, heldOut: 100 }).heldOut, heldOut);
  assert.not.equal(arithmeticSplits(4, { train: 7, heldOut: 100 }).heldOut, heldOut);
});

test("a split too large for the options is an error, not an endless loop", () => {
  // 0+0, 0+1, 1+0, 1+1: only four distinct problems exist.
  const tiny = { maxOperands: 2, maxValue: 1, operators: ["+"] as const };
  assert.throws(() => arithmeticSplits(1, { train: 1, heldOut: 5 }, tiny), /found only 4 of 5/);
  // The train set may repeat problems but never use a held-out one; with all four held out,
  // nothing is left for it.
  assert.throws(() => arithmeticSplits(1, { train: 1, heldOut: 4 }, tiny), /found only 0 of 1/);
});

test("bad options name the field", () => {
  assert.throws(() => generateArithmetic(prngKey(1), 1, { minOperands: 1 }), /"minOperands"/);
  assert.throws(
    () => generateArithmetic(prngKey(1), 1, { minOperands: 3, maxOperands: 2 }),
    /"maxOperands"/,
  );
  assert.throws(() => generateArithmetic(prngKey(1), 1, { maxValue: 2.5 }), /"maxValue"/);
  assert.throws(() => generateArithmetic(prngKey(1), 1, { operators: [] }), /"operators"/);
});

test.run();
