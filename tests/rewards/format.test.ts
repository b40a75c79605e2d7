import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  formatReward,
  reasoningStepsReward,
  tagCountReward,
  tinaFormatReward,
  tinaTagCountReward,
} from "../../lib/rewards/format.ts";

const good = "<think>\nreasoning\n</think>\n<answer>\n42\n</answer>";

test("format: the open-r1 regex, anchored at index 0, dot matching newlines", () => {
  assert.is(formatReward(good), 1);
  assert.is(formatReward(`${good} trailing`), 0); // `$` needs end of text or a newline
  assert.is(formatReward(` ${good}`), 0); // re.match anchors at 0
  assert.is(formatReward("<think>\na\nb\n</think>\n<answer>\nx\ny\n</answer>"), 1);
  assert.is(formatReward("<think>\n\n</think>\n<answer>\n\n</answer>"), 1); // empty bodies
  assert.is(formatReward("<think>\n</think>\n<answer>\n\n</answer>"), 0); // needs its own \n
  assert.is(formatReward("<think>\nx\n</think>\n<answer>\n</answer>"), 0);
  assert.is(formatReward("<think>\nx</think>\n<answer>\ny\n</answer>"), 0);
});

test("format: MULTILINE `$` lets lines follow </answer>; lazy dots span extra tags", () => {
  assert.is(formatReward(`${good}\nmore text after`), 1);
  assert.is(formatReward(`${good}\n`), 1);
  const twice = "<think>\na\n</think>\n<answer>\nb\n</answer> x\n</think>\n<answer>\nc\n</answer>";
  assert.is(formatReward(twice), 1); // backtracking finds the later </answer>
  assert.is(formatReward("<think>\na\n</think>\n<answer>\nb\n</answer>x"), 0);
});

test("tina_format: exactly one \\n</think>\\n (non-overlapping count)", () => {
  assert.is(tinaFormatReward("a\n</think>\nb"), 1);
  assert.is(tinaFormatReward("a\n</think>\nb\n</think>\n"), 0);
  assert.is(tinaFormatReward("a</think>b"), 0);
  // Overlapping occurrences count once, as Python's str.count does.
  assert.is(tinaFormatReward("\n</think>\n</think>\n"), 1);
});

test("tag_count: 0.25 per tag occurring exactly once; Tina's: 0.5 for the two think tags", () => {
  assert.is(tagCountReward(good), 1);
  assert.is(tagCountReward("<think>\nonly think"), 0.25);
  assert.is(tagCountReward(`${good}${good}`), 0);
  assert.is(tagCountReward("<think>\nx\n</think>\n\n<answer>\ny</answer>"), 0.75);
  assert.is(tinaTagCountReward(good), 1);
  assert.is(tinaTagCountReward("<think>\nx</think>"), 0.5);
  assert.is(tinaTagCountReward(""), 0);
});

test("reasoning_steps: min(1, count/3); ^ only at the start of the text", () => {
  assert.is(reasoningStepsReward("Step 1: a Step 2: b Step 3: c"), 1);
  assert.is(reasoningStepsReward("First, a. Finally, b."), 2 / 3);
  assert.is(reasoningStepsReward("1. first line"), 1 / 3);
  assert.is(reasoningStepsReward("intro\n2. second line"), 0); // no MULTILINE
  assert.is(reasoningStepsReward("\n- a\n* b"), 2 / 3);
  assert.is(reasoningStepsReward("Step ٣: Arabic-Indic digit"), 1 / 3); // Python \d is Unicode
  assert.is(reasoningStepsReward("Step x: no digit"), 0);
});

test.run();
