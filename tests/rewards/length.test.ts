import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  cosineScaled,
  cosineScaledRewards,
  defaultCosineOptions,
  kimiLengthRewards,
  softOverlongPunishment,
  softOverlongRewards,
} from "../../lib/rewards/length.ts";

const gold = { answer: "4" };

test("kimi length: λ = 0.5 − (L − Lmin)/(Lmax − Lmin); wrong answers get min(0, λ)", () => {
  const completions = ["\\boxed{4}", "\\boxed{4}xxxxxxxxx", "\\boxed{5}", "\\boxed{5}xxxxxxxxx"];
  const rewards = kimiLengthRewards(completions, completions.map(() => gold));
  assert.equal(rewards, [0.5, -0.5, 0, -0.5]);
});

test("kimi length: all equal lengths give zeros; unparseable gold counts as correct", () => {
  assert.equal(kimiLengthRewards(["\\boxed{4}", "\\boxed{5}"], [gold, gold]), [0, 0]);
  assert.equal(kimiLengthRewards(["a", "abc"], [{ answer: "" }, { answer: "" }]), [0.5, -0.5]);
  assert.equal(kimiLengthRewards([], []), []);
});

test("kimi length counts code points, as Python's len", () => {
  // "😀" is two UTF-16 units but one code point: lengths 10, 10, 9 → not all equal.
  const rewards = kimiLengthRewards(["\\boxed{4}😀", "\\boxed{4}x", "\\boxed{4}"], [
    gold,
    gold,
    gold,
  ]);
  assert.equal(rewards, [-0.5, -0.5, 0.5]);
});

test("cosine: correct 1.0 → 0.5 and wrong 0 → −0.5 as length goes 0 → maxLen", () => {
  const o = defaultCosineOptions;
  assert.is(cosineScaled(0, true, o), 1);
  assert.ok(Math.abs(cosineScaled(1000, true, o) - 0.5) < 1e-12);
  assert.ok(Math.abs(cosineScaled(500, true, o) - 0.75) < 1e-12);
  assert.is(cosineScaled(0, false, o), 0);
  assert.ok(Math.abs(cosineScaled(1000, false, o) + 0.5) < 1e-12);
  // progress is not clipped: past maxLen the cosine comes back up (open-r1 quirk).
  assert.ok(Math.abs(cosineScaled(2000, true, o) - 1) < 1e-12);
});

test("cosine over a batch: uses correctness; null for unparseable gold", () => {
  const fn = cosineScaledRewards({ maxLen: 9 });
  const [right, wrong, skipped] = fn(["\\boxed{4}", "\\boxed{5}", "\\boxed{4}"], [
    gold,
    gold,
    { answer: "" },
  ]);
  assert.ok(Math.abs(right! - 0.5) < 1e-12);
  assert.ok(Math.abs(wrong! + 0.5) < 1e-12);
  assert.is(skipped, null);
  assert.throws(() => cosineScaledRewards({ maxLen: 0 }), /maxLen/);
});

test("soft overlong: 0 up to M − C, linear to −1 at M, −1 beyond", () => {
  const punish = softOverlongPunishment({ maxCompletionLength: 100, softPunishCache: 20 });
  assert.is(punish(80), 0);
  assert.is(punish(90), -0.5);
  assert.is(punish(100), -1);
  assert.is(punish(101), -1);
  assert.throws(() => softOverlongPunishment({ softPunishCache: 0 }), /softPunishCache/);
});

test("soft overlong over a batch takes token lengths from extra", () => {
  const fn = softOverlongRewards({ maxCompletionLength: 10, softPunishCache: 5 });
  const examples = [{}, {}];
  assert.equal(fn(["a", "b"], examples, { completionTokenLengths: [5, 8] }), [0, -0.6]);
  assert.throws(() => fn(["a", "b"], examples), /completionTokenLengths/);
  assert.throws(() => fn(["a", "b"], examples, { completionTokenLengths: [1] }), /1 entries/);
});

test.run();
