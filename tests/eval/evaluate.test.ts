import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { arithmeticSplits } from "../../lib/data/mod.ts";
import {
  evaluate,
  type EvaluateOptions,
  PAPER_INSTRUCTION,
  promptMessages,
  scoreCompletions,
} from "../../lib/eval/evaluate.ts";
import { loadModel } from "../../lib/model/load.ts";
import { prngKey } from "../../lib/random/prng.ts";
import { defaultTaskTokenizer, makeCharTokenizer } from "../../lib/tokenizer/mod.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const fixtureDir = fileURLToPath(new URL("../fixtures/qwen2-tiny", import.meta.url));

// 7 special tokens + 43 characters: every id fits the fixture's 64-token vocabulary.
const tokenizer = makeCharTokenizer({ alphabet: "abcdefghijklmnopqrstuvwxyz0123456789 +-*=.\n" });
const examples = arithmeticSplits(3, { train: 0, heldOut: 3 }).heldOut;
const model = await loadModel(fixtureDir);

const options = (overrides: Partial<EvaluateOptions> = {}): EvaluateOptions => ({
  samplesPerProblem: 2,
  temperature: 1,
  topP: 1,
  maxNewTokens: 5,
  promptStyle: "task",
  key: prngKey(7),
  batchSize: 2,
  ...overrides,
});

test("scoreCompletions: equal values count as correct, unparseable gold as unscorable", () => {
  const scores = scoreCompletions(
    [
      { problem: "half", answer: "1/2" },
      { problem: "three", answer: "3" },
      { problem: "prose", answer: "no answer here" },
    ],
    [
      ["so \\boxed{0.5}", "\\boxed{2}"],
      ["<answer>\n4\n</answer>", "<answer>\n4\n</answer>"],
      ["\\boxed{1}", "\\boxed{1}"],
    ],
  );
  assert.equal(scores.perProblem[0].correct, [true, false]);
  assert.equal(scores.perProblem[0].answers, ["0.5", "2"]);
  assert.equal(scores.perProblem[1].correct, [false, false]);
  assert.is(scores.perProblem[2].correct, null);
  assert.is(scores.unscorable, 1);
  const summary = scores.summary!;
  assert.is(summary.problems, 2); // the unscorable problem is not counted as wrong
  assert.is(summary.samples, 2);
  assert.is(summary["pass@1"], 0.25);
  assert.is(summary["pass@k"], 0.5);
  assert.is(summary["maj@k"], 0.5); // "0.5" and "2" tie; the first seen (0.5 = 1/2) wins
});

test("scoreCompletions: maj@k groups equal answers; a solution's boxed answer is the gold", () => {
  const scores = scoreCompletions(
    [{ problem: "p", solution: "We get $x = 4$, so the answer is \\boxed{\\frac{8}{2}}." }],
    [["\\boxed{3}", "\\boxed{4.0}", "\\boxed{4}"]],
    1,
  );
  assert.is(scores.perProblem[0].gold, "\\frac{8}{2}");
  assert.equal(scores.perProblem[0].correct, [false, true, true]);
  assert.is(scores.summary!.k, 1);
  assert.is(scores.summary!["maj@k"], 0); // maj@1 votes on the first sample only
  const majority = scoreCompletions(
    [{ problem: "p", answer: "4" }],
    [["\\boxed{3}", "\\boxed{4.0}", "\\boxed{4}"]],
  );
  assert.is(majority.summary!["maj@k"], 1);
});

test("scoreCompletions: all unscorable gives no summary; bad shapes are refused", () => {
  const scores = scoreCompletions([{ problem: "p", answer: "" }], [["\\boxed{1}"]]);
  assert.is(scores.summary, null);
  assert.is(scores.unscorable, 1);
  assert.throws(() => scoreCompletions([{ problem: "p", answer: "1" }], []), /1 examples but 0/);
  assert.throws(
    () =>
      scoreCompletions([{ problem: "a", answer: "1" }, { problem: "b", answer: "1" }], [["x"], [
        "x",
        "y",
      ]]),
    /problem 1 has 2 completions, expected 1/,
  );
  assert.throws(() => scoreCompletions([{ problem: "p", answer: "1" }], [["x"]], 2), /k must be/);
});

test("paper prompt: one user message, the paper's instruction, then the question", () => {
  const messages = promptMessages({ problem: "What is 1+1?" }, "paper");
  assert.equal(messages, [{ role: "user", content: `${PAPER_INSTRUCTION}\n\nWhat is 1+1?` }]);
  assert.ok(PAPER_INSTRUCTION.includes("'Therefore, the final answer is: $\\boxed{ANSWER}$."));
  assert.equal(promptMessages({ problem: "x" }, "task"), [{ role: "user", content: "x" }]);
});

test("evaluate: same key, same completions; another key, other completions", async () => {
  const progress: [number, number][] = [];
  const first = await evaluate(
    model,
    tokenizer,
    examples,
    options({ onProgress: (done, total) => progress.push([done, total]) }),
  );
  assert.equal(progress, [[2, 3], [3, 3]]);
  assert.is(first.perProblem.length, 3);
  first.perProblem.forEach((p, i) => {
    assert.is(p.problem, examples[i].problem);
    assert.is(p.gold, examples[i].answer);
    assert.is(p.completions.length, 2);
    assert.is(p.correct?.length, 2);
  });
  assert.ok(first.tokensGenerated >= 6 && first.tokensGenerated <= 3 * 2 * 5);
  assert.is(first.summary?.problems, 3);

  const again = await evaluate(model, tokenizer, examples, options());
  assert.equal(again.perProblem, first.perProblem);
  assert.is(again.tokensGenerated, first.tokensGenerated);

  const other = await evaluate(model, tokenizer, examples, options({ key: prngKey(8) }));
  assert.not.equal(
    other.perProblem.map((p) => p.completions),
    first.perProblem.map((p) => p.completions),
  );
});

test("evaluate: greedy samples of a problem are identical and keep to their problem", async () => {
  const greedy = await evaluate(model, tokenizer, examples, options({ temperature: 0 }));
  greedy.perProblem.forEach((p) => assert.is(p.completions[0], p.completions[1]));
  const alone = await evaluate(
    model,
    tokenizer,
    [examples[2]],
    options({ temperature: 0, promptStyle: "task" }),
  );
  assert.equal(alone.perProblem[0].completions, greedy.perProblem[2].completions);
});

test("evaluate: a tokenizer with ids beyond the model's vocabulary is refused", async () => {
  try {
    await evaluate(model, defaultTaskTokenizer(), examples, options());
    assert.unreachable("should have thrown");
  } catch (e) {
    assert.match((e as Error).message, /problem 0: prompt token id \d+ is outside .*\(64\)/);
  }
});

const cli = (...args: string[]) => {
  const out = spawnSync("node", ["--import", "tsx", "examples/eval.ts", ...args], {
    cwd: root,
    encoding: "utf8",
  });
  return { status: out.status, stderr: out.stderr.trim(), stdout: out.stdout };
};

test("CLI: a bad flag or value is a one-line error with exit code 2", () => {
  const unknown = cli("--bogus");
  assert.is(unknown.status, 2);
  assert.is(unknown.stderr.split("\n").length, 1, unknown.stderr);
  assert.match(unknown.stderr, /^eval: .*--bogus/);

  const badValue = cli("--samples", "0");
  assert.is(badValue.status, 2);
  assert.is(badValue.stderr, 'eval: --samples must be an integer >= 1, got "0" (see --help)');
});

test.run();
