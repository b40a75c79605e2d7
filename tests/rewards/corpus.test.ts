// Agreement with Math-Verify on the committed corpus (tests/fixtures/rewards/corpus.jsonl:
// verdicts from Math-Verify's rules, built by build_corpus.ts, never from this code).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFile } from "node:fs/promises";
import { accuracyReward } from "../../lib/rewards/accuracy.ts";
import { answersEqual } from "../../lib/rewards/equal.ts";
import { extractAnswer } from "../../lib/rewards/extract.ts";

interface Case {
  readonly gold: string;
  readonly prediction: string;
  readonly expected: 0 | 1;
  readonly kind: string;
}

const corpusUrl = new URL("../fixtures/rewards/corpus.jsonl", import.meta.url);
const corpus: Case[] = (await readFile(corpusUrl, "utf8")).trim().split("\n")
  .map((line) => JSON.parse(line));

const minAgreement = 0.97;
const maxFalsePositives = 0.005;

/** A grader's verdicts against the corpus: agreement, false positives, the disagreements. */
const grade = (name: string, verdict: (c: Case) => 0 | 1) => {
  const disagreements: string[] = [];
  let falsePositives = 0;
  for (const c of corpus) {
    const got = verdict(c);
    if (got === c.expected) continue;
    if (got === 1) falsePositives++;
    disagreements.push(`  [${c.kind}] expected ${c.expected}: ${c.gold}  vs  ${c.prediction}`);
  }
  const agreement = 1 - disagreements.length / corpus.length;
  console.log(
    `${name}: ${corpus.length} cases, agreement ${(agreement * 100).toFixed(1)}%, ` +
      `${falsePositives} false positives (${(falsePositives / corpus.length * 100).toFixed(2)}%)`,
  );
  if (process.env.TINA_SHOW_DISAGREEMENTS) console.log(disagreements.join("\n"));
  assert.ok(corpus.length >= 500, `only ${corpus.length} cases`);
  assert.ok(
    agreement >= minAgreement && falsePositives / corpus.length <= maxFalsePositives,
    `disagreements:\n${disagreements.join("\n")}`,
  );
};

test(`the accuracy reward agrees >= ${minAgreement * 100}%, false positives <= ${maxFalsePositives * 100}%`, () => {
  // Bare unmarked completions (`-5`) give no answer here, as in open-r1 (see extract.ts).
  grade("accuracy reward", (c) => accuracyReward(c.prediction, c.gold) === 1 ? 1 : 0);
});

test("answersEqual on extracted answers (issue #13's measure) agrees as well", () => {
  const answer = (text: string) => extractAnswer(text) ?? text;
  grade("answersEqual", (c) => answersEqual(answer(c.gold), answer(c.prediction)) ? 1 : 0);
});

test.run();
