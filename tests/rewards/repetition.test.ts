import { test } from "uvu";
import * as assert from "uvu/assert";
import { repetitionPenalty } from "../../lib/rewards/repetition.ts";

const penalty = repetitionPenalty();

test("no repetition is 0; full repetition approaches maxPenalty", () => {
  assert.is(penalty("the quick brown fox jumps"), 0);
  // 6 words → 4 trigrams, 3 distinct ("a b c", "b c a", "c a b").
  assert.is(penalty("a b c a b c"), (1 - 3 / 4) * -1);
  assert.is(penalty("x x x x x x x x x x x"), (1 - 1 / 9) * -1);
});

test("lowercased; split on Python whitespace (incl. \\x1c and NBSP)", () => {
  assert.is(penalty("A b C a B c"), penalty("a b c a b c"));
  assert.is(penalty("a\x1cb\u00a0c a b c"), penalty("a b c a b c"));
  assert.is(penalty("a\ufeffb c a b c"), 0); // BOM is not whitespace in Python: 5 words, 3 distinct
});

test("empty text or fewer words than n gives 0; options are validated", () => {
  assert.is(penalty(""), 0);
  assert.is(penalty("two words"), 0);
  assert.is(repetitionPenalty({ ngramSize: 1, maxPenalty: -2 })("a a b b"), (1 - 2 / 4) * -2);
  assert.is(repetitionPenalty({ ngramSize: 60 })("w ".repeat(70)), (1 - 1 / 11) * -1);
  assert.throws(() => repetitionPenalty({ maxPenalty: 0.5 }), /should not be positive/);
  assert.throws(() => repetitionPenalty({ ngramSize: 0 }), /ngramSize/);
});

test.run();
