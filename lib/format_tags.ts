/**
 * The reasoning format's tags, `<think>\n...\n</think>\n<answer>\n...\n</answer>`: one home
 * for the tokenizer (they are its word tokens), the task data and prompts, and the rewards.
 */

/** Opens the reasoning. */
export const THINK_OPEN = "<think>";
/** Closes the reasoning. */
export const THINK_CLOSE = "</think>";
/** Opens the final answer. */
export const ANSWER_OPEN = "<answer>";
/** Closes the final answer. */
export const ANSWER_CLOSE = "</answer>";

/** All four tags, in order. */
export const REASONING_TAGS: readonly string[] = [
  THINK_OPEN,
  THINK_CLOSE,
  ANSWER_OPEN,
  ANSWER_CLOSE,
];

/** A completion in the reasoning format: one line per reasoning step, then the answer. */
export const formatCompletion = (steps: readonly string[], answer: string): string =>
  `${THINK_OPEN}\n${steps.join("\n")}\n${THINK_CLOSE}\n${ANSWER_OPEN}\n${answer}\n${ANSWER_CLOSE}`;
