import { test } from "uvu";
import * as assert from "uvu/assert";
import { formatCompletion } from "../../lib/format_tags.ts";
import { SYSTEM_PROMPT, taskPrompt, usesTaskAlphabet } from "../../lib/data/prompt.ts";

test("taskPrompt is the problem alone, or after a given system prompt", () => {
  assert.equal(taskPrompt({ problem: "Compute 1+2." }), [{
    role: "user",
    content: "Compute 1+2.",
  }]);
  assert.equal(taskPrompt({ problem: "Compute 1+2." }, SYSTEM_PROMPT), [
    { role: "system", content: SYSTEM_PROMPT },
    { role: "user", content: "Compute 1+2." },
  ]);
  assert.ok(SYSTEM_PROMPT.length < 100);
  assert.ok(usesTaskAlphabet(SYSTEM_PROMPT));
});

test("usesTaskAlphabet accepts the tags and refuses anything else", () => {
  assert.ok(usesTaskAlphabet("<think>\n1+2=3\n</think>\n<answer>\n3\n</answer>"));
  assert.not.ok(usesTaskAlphabet("<think>\\boxed{3}</think>"));
  assert.not.ok(usesTaskAlphabet("<thought>"));
  assert.not.ok(usesTaskAlphabet("3\t4"));
});

test("formatCompletion matches the open-r1 format reward's pattern", () => {
  const completion = formatCompletion(["1+2=3", "3*2=6"], "6");
  assert.is(completion, "<think>\n1+2=3\n3*2=6\n</think>\n<answer>\n6\n</answer>");
  assert.match(completion, /^<think>\n.*?\n<\/think>\n<answer>\n.*?\n<\/answer>$/s);
});

test.run();
