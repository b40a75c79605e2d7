/**
 * Reward throughput (completions/s) on typical GRPO completions: a few hundred words of
 * reasoning in Tina's tags, ending in a boxed answer that is right, right in another form,
 * wrong, or missing. Host code only, so it runs once rather than once per backend.
 */
import { combineRewards, type Example, makeReward } from "../lib/rewards/mod.ts";
import { timeTask } from "./measure.ts";
import type { Measurement, Suite } from "./suite.ts";
import { adversarialCompletions, adversarialGold } from "../tests/rewards/adversarial.ts";
import { rewardTimes } from "../tests/rewards/timing.ts";

/** Gold answers with a differently written equal answer and a wrong one. */
const answers: readonly { gold: string; equal: string; wrong: string }[] = [
  { gold: "9", equal: "9.0", wrong: "12" },
  { gold: "\\frac{1}{2}", equal: "0.5", wrong: "\\frac{1}{3}" },
  { gold: "\\left( 3, \\frac{\\pi}{2} \\right)", equal: "(3, \\pi/2)", wrong: "(3, \\pi)" },
  { gold: "2\\sqrt{5}", equal: "\\sqrt{20}", wrong: "5\\sqrt{2}" },
  { gold: "x^2 + 2x + 1", equal: "(x+1)^2", wrong: "x^2 + 1" },
  { gold: "[-2, 7)", equal: "[-2,7)", wrong: "(-2, 7]" },
  { gold: "\\text{Evelyn}", equal: "Evelyn", wrong: "Carla" },
  { gold: "10\\%", equal: "10", wrong: "20\\%" },
];

const reasoning = (i: number): string =>
  Array.from(
    { length: 12 },
    (_, s) =>
      `Step ${s + 1}: we rewrite the expression as ${s + i} times the previous term, ` +
      `then simplify both sides and check the result against the constraint.`,
  ).join("\n");

const completionFor = (i: number, answer: string | null): string =>
  `<think>\n${reasoning(i)}\n</think>\n<answer>\n` +
  (answer === null ? "I could not finish." : `The answer is $\\boxed{${answer}}$.`) +
  "\n</answer>";

const batch: readonly { completion: string; example: Example }[] = answers.flatMap((a, i) =>
  [a.gold, a.equal, a.wrong, null].map((answer) => ({
    completion: completionFor(i, answer),
    example: { answer: a.gold },
  }))
);
const completions = batch.map((b) => b.completion);
const examples = batch.map((b) => b.example);

const scorers: readonly { name: string; score: () => unknown }[] = [
  ...["accuracy", "format", "tag_count", "repetition"].map((name) => {
    const fn = makeReward(name);
    return { name, score: () => fn(completions, examples) };
  }),
  (() => {
    const tina = combineRewards([{ name: "accuracy", weight: 2 }, { name: "format" }]);
    return { name: "accuracy×2 + format (combined)", score: () => tina(completions, examples) };
  })(),
];

// Issue #13's budget: on 100k adversarial completions the accuracy reward's p99 stays under
// 5 ms and no call takes 100 ms (each input's fastest of up to three runs; see timing.ts).
const adversarialCount = 100_000;

const adversarialRows = (): Measurement[] => {
  const completions = adversarialCompletions(adversarialCount);
  const { results, times } = rewardTimes(completions, adversarialGold);
  if (!results.every((r) => r === null || r === 0 || r === 1)) {
    throw new Error("accuracy reward returned a value outside {0, 1, null}");
  }
  const sorted = [...times].sort((a, b) => a - b);
  const shape = (what: string) =>
    `accuracy, ${what} over ${adversarialCount} adversarial completions`;
  const row = (what: string, figure: number): Measurement => ({
    shape: shape(what),
    figure,
    unit: "ms",
    samples: adversarialCount,
    higherIsBetter: false,
  });
  return [
    row("p99", sorted[Math.floor(0.99 * sorted.length)]),
    row("max", sorted[sorted.length - 1]),
  ];
};

export const rewardsSuite: Suite = {
  name: "rewards",
  description: "reward functions, completions scored per second",
  hostOnly: true,
  run: async () => {
    const out: Measurement[] = [];
    for (const { name, score } of scorers) {
      const { seconds, runs } = await timeTask(name, () => Promise.resolve(score()), {
        budgetMs: 1000,
      });
      out.push({
        shape: `${name}, batch of ${completions.length}`,
        figure: completions.length / seconds,
        unit: "completions/s",
        samples: runs,
        higherIsBetter: true,
      });
    }
    return [...out, ...adversarialRows()];
  },
};
