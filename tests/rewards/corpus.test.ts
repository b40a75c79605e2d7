// Agreement with Math-Verify on the committed corpus (tests/fixtures/rewards/corpus.jsonl:
// verdicts from Math-Verify's rules, built by build_corpus.ts, never from this code).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFile } from "node:fs/promises";
import { accuracyReward } from "../../lib/rewards/accuracy.ts";

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

test(`corpus: agreement >= ${minAgreement * 100}%, false positives <= ${maxFalsePositives * 100}%`, () => {
  assert.ok(corpus.length >= 500, `only ${corpus.length} cases`);
  const disagreements: string[] = [];
  let falsePositives = 0;
  for (const c of corpus) {
    const got = accuracyReward(c.prediction, c.gold) === 1 ? 1 : 0;
    if (got === c.expected) continue;
    if (got === 1) falsePositives++;
    disagreements.push(`  [${c.kind}] expected ${c.expected}: ${c.gold}  vs  ${c.prediction}`);
  }
  const agreement = 1 - disagreements.length / corpus.length;
  console.log(
    `reward corpus: ${corpus.length} cases, agreement ${(agreement * 100).toFixed(1)}%, ` +
      `${falsePositives} false positives (${(falsePositives / corpus.length * 100).toFixed(2)}%)`,
  );
  if (process.env.TINA_SHOW_DISAGREEMENTS) console.log(disagreements.join("\n"));
  assert.ok(
    agreement >= minAgreement && falsePositives / corpus.length <= maxFalsePositives,
    `disagreements:\n${disagreements.join("\n")}`,
  );
});

test.run();
