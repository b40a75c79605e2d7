// Rewards as values through the public surface: built-in names and user functions together,
// typed dataset columns, TRL's signature, and clear errors for what cannot be a reward.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { combineRewards, type Example, type RewardSpec, trlReward } from "../../mod.ts";

const good = "<think>\nadd\n</think>\n<answer>\n\\boxed{4}\n</answer>";
const bad = "the answer is 5";

type Row = Example<{ difficulty: number; source: string }>;
const rows: Row[] = [
  { problem: "2+2", answer: "4", difficulty: 3, source: "a" },
  { problem: "2+2", answer: "4", difficulty: 5, source: "b" },
];

// Module-level: Bun's transpiler drops the inferred name of a single-use arrow inside a function.
const difficultyBonus = (completion: string, example: Row) =>
  completion.includes(example.answer ?? "?") ? example.difficulty : 0;
const nan = () => NaN;

test("a built-in name and a named function run together, each under its own name", () => {
  const score = combineRewards<Row>(["accuracy", { name: "format", weight: 0.5 }, difficultyBonus]);
  const out = score([good, bad], rows);
  assert.equal(out.perFunction, {
    accuracy: [1, 0],
    format: [1, 0],
    difficultyBonus: [3, 0],
  });
  assert.equal(out.total, [1 + 0.5 + 3, 0]);
});

test("an explicit name and weight for a function; the per-completion context is passed", () => {
  const seen: unknown[] = [];
  const score = combineRewards([{
    name: "len",
    weight: 2,
    reward: (completion, _example, ctx) => {
      seen.push([ctx?.index, ctx?.completionTokenLength, ctx?.prompt?.[0].content]);
      return completion.length;
    },
  }]);
  const prompt = [{ role: "user", content: "2+2" }];
  const out = score(["ab", "abc"], [{}, {}], {
    completionTokenLengths: [2, 3],
    prompts: [prompt, prompt],
  });
  assert.equal(out.total, [4, 6]);
  assert.equal(seen, [[0, 2, "2+2"], [1, 3, "2+2"]]);
});

test("TRL's signature: prompts, completions and every column as an array", () => {
  let args: Record<string, unknown> = {};
  const trl = trlReward<Row>("trl_style", (a) => {
    args = a;
    return a.completions.map((c, i) => (c === good ? a.difficulty[i] : null));
  });
  const out = combineRewards<Row>([trl])([good, bad], rows, { completionTokenLengths: [9, 4] });
  assert.equal(out.perFunction.trl_style, [3, null]);
  assert.equal(out.total, [3, 0]);
  assert.equal(args.difficulty, [3, 5]);
  assert.equal(args.source, ["a", "b"]);
  assert.equal(args.answer, ["4", "4"]);
  assert.equal(args.completionTokenLengths, [9, 4]);
  assert.equal(args.prompts, []);
});

test("what cannot be a reward fails with a message naming it", () => {
  const anonymous = Object.defineProperty((c: string) => c.length, "name", { value: "" });
  const throwsOn = (specs: unknown[], pattern: RegExp) =>
    assert.throws(() => combineRewards(specs as RewardSpec[])(["a"], [{}]), pattern);
  throwsOn([anonymous], /needs a name/);
  throwsOn([{ name: "accuracy", reward: () => 1 }], /name of a built-in/);
  throwsOn([{ name: "x", reward: () => 1, batch: () => [1] }], /either reward or batch/);
  throwsOn([{ name: "x", reward: "nope" }], /reward is not a function/);
  throwsOn([{ name: "x", weight: "2", reward: () => 1 }], /weight must be a finite number/);
  throwsOn([{ name: "x", batch: () => [1, 2] }], /"x": returned 2 values for 1 completions/);
  throwsOn([{ name: "x", reward: () => "1" }], /"x": completion 0 got "1"/);
  throwsOn([{ name: "x", reward: () => Infinity }], /not a finite number/);
  throwsOn([42], /expected a name, a function or an object/);
  throwsOn(["acuracy"], /unknown reward "acuracy"/);
  throwsOn(["format", { name: "format", weight: 2 }], /listed twice/);
  assert.throws(() => combineRewards("accuracy" as unknown as RewardSpec[]), /expected an array/);
});

test("a reward returning NaN counts as 0 in the total but is kept as reported", () => {
  const out = combineRewards(["format", nan])([good], [{}]);
  assert.ok(Number.isNaN(out.perFunction.nan[0]));
  assert.equal(out.total, [1]);
});

test.run();
