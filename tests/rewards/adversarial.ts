/**
 * Adversarial completions for the accuracy reward's time budget (the budget test and
 * bench/rewards.ts): token soups in boxes, the inputs issue #13 measured in seconds under
 * the old engine, random Unicode, huge and deeply nested texts, and ordinary answers.
 * Deterministic for a seed.
 */

/** Inputs that once stalled the compute engine's parser for seconds (issue #13). */
export const namedSlowInputs: readonly string[] = [
  "\\boxed{1-\\frac{1}{\\sum_{j=1}^{n} i}}",
  "\\boxed{\\log_{\\sqrt{\\frac{\\pi}{\\sum_{k=1}^{n} i}}} 2}",
  "\\boxed{\\frac{\\sum_{i=1}^{n} i}{\\prod_{j=1}^{m} i}}",
  "\\boxed{\\prod_{j=1}^{n} \\frac{1}{\\sum_{k=1}^{j} i}}",
  "\\boxed{\\sqrt{\\frac{1}{\\sum_{j=1}^{n} i} + \\frac{1}{\\prod_{j=1}^{n} i}}}",
  "\\boxed{\\log_{\\log_{\\log_{2} n} m} \\frac{\\pi}{\\sum_{j=1}^{x} i}}",
  "\\boxed{9^{9^{9^{9^{9}}}}}",
  "\\boxed{(10^{100})!}",
  "\\boxed{\\sum_{n=1}^{10^{9}} n}",
  `\\boxed{${"[".repeat(40)}1${"]".repeat(40)}}`,
  `\\boxed{${"{".repeat(5000)}1${"}".repeat(5000)}}`,
  `\\boxed{${"x".repeat(500)}}`,
  `\\boxed{${"\\frac{1}{".repeat(30)}2${"}".repeat(30)}}`,
  `\\boxed{${"(1+".repeat(40)}1${")".repeat(40)}}`,
];

const tokens = [
  "\\sum_{j=1}^{n}",
  "\\prod_{k=1}^{m}",
  "\\frac{",
  "}{",
  "}",
  "{",
  "\\sqrt{",
  "\\log_{",
  "\\pi",
  "i",
  "n",
  "x",
  "y",
  "+",
  "-",
  "^",
  "_",
  "1",
  "2",
  "10",
  "0.5",
  "(",
  ")",
  "[",
  "]",
  "\\int_0^1",
  "\\lim_{x\\to 0}",
  "dx",
  "!",
  "\\cdot",
  "\\sin",
  "e",
  "|",
  ",",
  "=",
  "<",
  "\\le",
  "\\infty",
  "\\binom{",
  "\\ln",
  "a",
  "b",
  "\\text{",
  "\\left(",
  "\\right)",
  "\\to",
  "\\cup",
  "\\in",
  "\\{",
  "\\}",
  "\\%",
  "\\$",
  "\\begin{pmatrix}",
  "\\end{pmatrix}",
  "&",
  "\\\\",
  "\\pm",
  ":",
];
const answers = [
  "42",
  "\\frac{3}{4}",
  "0.75",
  "2\\sqrt{5}",
  "(3, \\frac{\\pi}{2})",
  "[-2, 7)",
  "x^2+2x+1",
  "\\{1, 2\\}",
  "10\\%",
  "\\text{Evelyn}",
  "y = 2x + 3",
  "1 \\pm \\sqrt{19}",
  "6 - 5i",
  "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
  "-3 \\le t \\le 4",
  "12,345",
  "3,57",
];

/** A small seeded generator (LCG): enough to vary inputs, and identical on every runtime. */
const generator = (seed: number) => {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
};

const pick = <T>(random: () => number, items: readonly T[]): T =>
  items[Math.floor(random() * items.length)];

const soup = (random: () => number, length: number) =>
  Array.from({ length }, () => pick(random, tokens)).join("");

const unicode = (random: () => number, length: number) =>
  Array.from({ length }, () => String.fromCodePoint(Math.floor(random() * 0xd7ff))).join("");

/** `count` completions, a mix of every kind above. */
export const adversarialCompletions = (count: number, seed = 13): string[] => {
  const random = generator(seed);
  const reasoning = "We expand, collect like terms and check the constraint. ".repeat(20);
  return Array.from({ length: count }, (_, i) => {
    switch (i % 8) {
      case 0:
        return `${reasoning}\\boxed{${soup(random, 2 + Math.floor(random() * 16))}}`;
      case 1:
        return `So $${soup(random, 2 + Math.floor(random() * 24))}$`;
      case 2:
        return pick(random, namedSlowInputs);
      case 3:
        return `\\boxed{${unicode(random, 1 + Math.floor(random() * 60))}}`;
      case 4:
        return `${reasoning}The answer is $\\boxed{${pick(random, answers)}}$.`;
      case 5:
        return `Final Answer: The final answer is ${soup(random, 1 + Math.floor(random() * 10))}`;
      case 6:
        return `${"\\boxed{1} and ".repeat(1 + Math.floor(random() * 40))}\\boxed{${
          soup(random, 4)
        }}`;
      default:
        return reasoning.repeat(1 + Math.floor(random() * 50)) + soup(random, 12);
    }
  });
};

/** Gold answers the completions are graded against, by index. */
export const adversarialGold = (i: number): string => answers[i % answers.length];
