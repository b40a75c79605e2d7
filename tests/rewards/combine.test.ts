import { test } from "uvu";
import * as assert from "uvu/assert";
import { combineRewards, makeReward, rewardNames } from "../../lib/rewards/combine.ts";

const good = "<think>\nadd\n</think>\n<answer>\n\\boxed{4}\n</answer>";
const bad = "the answer is 5";

test("every registered name builds a batch reward", () => {
  assert.equal([...rewardNames].sort(), [
    "accuracy",
    "cosine",
    "format",
    "length",
    "reasoning_steps",
    "repetition",
    "soft_overlong",
    "tag_count",
    "tina_format",
    "tina_tag_count",
  ]);
  for (const name of rewardNames) {
    const rewards = makeReward(name)([good, bad], [{ answer: "4" }, { answer: "4" }], {
      completionTokenLengths: [10, 20],
    });
    assert.is(rewards.length, 2, name);
  }
});

test("weighted sum per completion, with per-function values", () => {
  const score = combineRewards([
    { name: "accuracy", weight: 2 },
    { name: "format", weight: 0.5 },
    { name: "tina_tag_count" },
  ]);
  const out = score([good, bad], [{ answer: "4" }, { answer: "4" }]);
  assert.equal(out.perFunction, {
    accuracy: [1, 0],
    format: [1, 0],
    tina_tag_count: [1, 0],
  });
  assert.equal(out.total, [2 + 0.5 + 1, 0]);
});

test("null rewards count as 0 in the total", () => {
  const score = combineRewards([{ name: "accuracy", weight: 1 }, { name: "tina_format" }]);
  const out = score(["\n</think>\n\\boxed{1}"], [{ solution: "" }]);
  assert.equal(out.perFunction.accuracy, [null]);
  assert.equal(out.total, [1]);
});

test("options reach parameterized rewards", () => {
  const score = combineRewards([
    { name: "soft_overlong", options: { maxCompletionLength: 10, softPunishCache: 5 } },
    { name: "repetition", weight: 2, options: { ngramSize: 1 } },
  ]);
  const out = score(["a a"], [{}], { completionTokenLengths: [8] });
  assert.equal(out.perFunction.soft_overlong, [-0.6]);
  assert.equal(out.total, [-0.6 + 2 * -0.5]);
});

test("clear errors: unknown name, unknown option, duplicate, mismatched batch", () => {
  assert.throws(() => combineRewards([{ name: "acuracy" }]), /valid names: accuracy, format/);
  assert.throws(() => makeReward("cosine", { max_len: 3 }), /valid options: minValueWrong/);
  assert.throws(() => makeReward("format", { x: 1 }), /takes no options/);
  assert.throws(() => combineRewards([{ name: "format" }, { name: "format" }]), /twice/);
  assert.throws(() => makeReward("format")(["a"], []), /1 completions but 0 examples/);
});

test.run();
