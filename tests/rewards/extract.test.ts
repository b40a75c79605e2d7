import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  answerTag,
  extractAnswer,
  finalAnswerIs,
  lastBoxed,
  lastMathSpan,
} from "../../lib/rewards/extract.ts";
import { normalizeAnswer } from "../../lib/rewards/normalize.ts";

test("the last balanced \\boxed{} wins, nested braces included", () => {
  assert.is(lastBoxed("\\boxed{1} then \\boxed{\\frac{1}{2}}"), "\\frac{1}{2}");
  assert.is(lastBoxed("\\fbox{7}"), "7");
  assert.is(lastBoxed("\\boxed {\\{1,2\\}}"), "\\{1,2\\}");
  assert.is(lastBoxed("\\boxed{3} and an unterminated \\boxed{4"), "3");
  assert.is(lastBoxed("\\boxed{}"), null);
  assert.is(lastBoxed("no box"), null);
});

test("priority: boxed, then <answer>, then 'final answer is', then the last math span", () => {
  const all = "<answer>\n2\n</answer> The final answer is $3$. $4$ \\boxed{1}";
  assert.is(extractAnswer(all), "1");
  assert.is(extractAnswer("<answer>\n2\n</answer> The final answer is $3$. $4$"), "2");
  assert.is(extractAnswer("The final answer is $3$. I hope it is correct. $4$"), "3");
  assert.is(extractAnswer("so $x=1$ and then $y = 4$."), "y = 4");
  assert.is(extractAnswer("there is nothing to see here"), null);
});

test("several boxes divided only by separators are one answer", () => {
  assert.is(extractAnswer("roots \\boxed{1}, \\boxed{2}"), "1, 2");
  assert.is(extractAnswer("$\\boxed{-2} \\quad \\text{and} \\quad \\boxed{1}$"), "-2, 1");
  assert.is(
    extractAnswer("\\boxed{(3, 3)} \\text{ for part (a) and } \\boxed{(1, 1)}"),
    "(3, 3), (1, 1)",
  );
  assert.is(extractAnswer("first \\boxed{4}; now we check it once more: \\boxed{5}"), "5");
  assert.is(extractAnswer("$$\\boxed{20}$$ \\boxed{143}"), "143");
  assert.is(extractAnswer("\\(\\boxed{1}\\) and \\(\\boxed{-2}\\)."), "1, -2");
  assert.is(extractAnswer("so $1$ and $2$ and $3$"), "1, 2, 3");
  assert.is(extractAnswer("$21,16$ or $11$"), "21,16, 11");
});

test("unmarked answers: a final-answer sentence or prose's last number; a bare text gives none", () => {
  assert.is(extractAnswer("Final answer: the smallest $k$ is 12."), "12");
  assert.is(extractAnswer("Final Answer: The volume is 120. I hope it is correct."), "120");
  assert.is(extractAnswer("So the answer is 19 <|im_start|>user"), "19");
  assert.is(
    extractAnswer("Let $d = \\frac{90}{n}$. Therefore, there are 12 such sequences."),
    "12",
  );
  assert.is(
    extractAnswer("Let $d = \\frac{90}{n}$ be the common difference."),
    "d = \\frac{90}{n}",
  );
  assert.is(extractAnswer("Le prix est donc de 4,15 €."), "4,15");
  assert.is(extractAnswer("the number is 10 which is 1,000.99m²"), "1,000.99");
  assert.is(extractAnswer("<think>\n6-3=3\n3+7=10\n</think>\n10"), null); // unmarked, not prose
});

test("answer tag takes the last complete block", () => {
  assert.is(answerTag("<answer>1</answer><answer> 2 </answer>"), "2");
  assert.is(answerTag("<answer>1"), null);
});

test("'final answer is' takes a math span or the rest of the line", () => {
  assert.is(finalAnswerIs("Final Answer: The final answer is 42. I hope it is correct."), "42");
  assert.is(finalAnswerIs("The final answer is: \\(\\frac{1}{2}\\) done"), "\\frac{1}{2}");
  assert.is(finalAnswerIs("final answer is\n"), null);
});

test("math spans: $, $$, \\( \\), \\[ \\]; inline spans do not cross lines; \\$ is text", () => {
  assert.is(lastMathSpan("a $1$ b $$2$$ c"), "2");
  assert.is(lastMathSpan("\\[ \n 9 \n \\]"), "9");
  assert.is(lastMathSpan("Answer $ \n 9 \n $"), null);
  assert.is(lastMathSpan("costs \\$5 and $x$"), "x");
  assert.is(
    lastMathSpan("$ \\frac{1}{2} \\$ = \\frac{10}{9} $"),
    "\\frac{1}{2} \\$ = \\frac{10}{9}",
  );
});

test("normalization strips wrappers, spacing, units, degrees and separators", () => {
  const cases: [string, string][] = [
    ["$\\boxed{\\dfrac{1}{2}}$", "\\frac{1}{2}"],
    ["\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"],
    ["\\text{5 cm}", "5"],
    ["125\\textnormal{ miles}", "125"],
    ["90^\\circ", "90"],
    ["\\$32,\\!348", "32348"],
    ["7,425,000", "7425000"],
    ["14{,}916", "14916"],
    ["50%", "50"],
    ["28 percent", "28"],
    ["2 000", "2000"],
    ["3,57", "3.57"],
    ["41, 275", "41,275"],
    ["1, 2, 3, ...", "1,2,3,..."],
    ["\\frac{270}7\\text{ degrees}", "\\frac{270}{7}"],
    ["x \\in [0, 1)", "[0,1)"],
    ["12\\text{ and }13", "12,13"],
    ["x = \\frac13 \\approx 0.33", "x = \\frac{1}{3}"],
    ["5.", "5"],
    [".4", ".4"],
  ];
  for (const [raw, want] of cases) assert.is(normalizeAnswer(raw), want, raw);
});

test.run();
