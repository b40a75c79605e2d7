/**
 * Format rewards: open-r1's (format, tag_count, reasoning_steps) and Tina's variants.
 * Each reproduces the Python reference exactly, quirks included, in linear time.
 */
import { ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN } from "../format_tags.ts";
import { countOccurrences } from "./text.ts";

const thinkOpen = `${THINK_OPEN}\n`;
const thinkClose = `\n${THINK_CLOSE}\n`;
const answerOpen = `\n${ANSWER_OPEN}\n`;
const thinkThenAnswer = `\n${THINK_CLOSE}${answerOpen}`;
const answerClose = `\n${ANSWER_CLOSE}`;

/**
 * open-r1's format reward: `re.match(r"^<think>\n.*?\n</think>\n<answer>\n.*?\n</answer>$",
 * text, re.DOTALL | re.MULTILINE)`. The match is anchored at index 0 only, and with
 * MULTILINE `$` also matches before any newline, so trailing lines after `</answer>` pass.
 * Decided without backtracking: the earliest think/answer boundary leaves the most room.
 */
export const formatReward = (completion: string): number => {
  if (!completion.startsWith(thinkOpen)) return 0;
  const boundary = completion.indexOf(thinkThenAnswer, thinkOpen.length);
  if (boundary === -1) return 0;
  for (
    let close = completion.indexOf(answerClose, boundary + thinkThenAnswer.length);
    close !== -1;
    close = completion.indexOf(answerClose, close + 1)
  ) {
    const end = close + answerClose.length;
    if (end === completion.length || completion[end] === "\n") return 1;
  }
  return 0;
};

/** Tina's format reward: exactly one "\n</think>\n" (Python `str.count` semantics). */
export const tinaFormatReward = (completion: string): number =>
  countOccurrences(completion, thinkClose) === 1 ? 1 : 0;

const scoreTags = (completion: string, tags: readonly string[], each: number): number =>
  tags.reduce((sum, tag) => sum + (countOccurrences(completion, tag) === 1 ? each : 0), 0);

/** open-r1's tag_count: 0.25 for each tag that occurs exactly once. */
export const tagCountReward = (completion: string): number =>
  scoreTags(completion, [thinkOpen, thinkClose, answerOpen, answerClose], 0.25);

/** Tina's tag_count: 0.5 each for "<think>\n" and "\n</think>\n" occurring exactly once. */
export const tinaTagCountReward = (completion: string): number =>
  scoreTags(completion, [thinkOpen, thinkClose], 0.5);

// Python's `\d` in a str pattern is any Unicode decimal digit; no MULTILINE, so `^` is the
// start of the text only.
const stepPattern = /Step \p{Nd}+:|^\p{Nd}+\.|\n-|\n\*|First,|Second,|Next,|Finally,/gu;

/** open-r1's reasoning_steps: min(1, matches / 3) of the step-marker pattern. */
export const reasoningStepsReward = (completion: string): number => {
  let count = 0;
  for (const _ of completion.matchAll(stepPattern)) {
    if (++count >= 3) return 1;
  }
  return count / 3;
};
