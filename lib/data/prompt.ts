/**
 * The chat prompt that asks for the reasoning format (lib/format_tags.ts) our tasks teach and
 * our format rewards check.
 */

import {
  ANSWER_CLOSE,
  ANSWER_OPEN,
  REASONING_TAGS,
  THINK_CLOSE,
  THINK_OPEN,
} from "../format_tags.ts";
import type { ChatMessage } from "../tokenizer/hf.ts";
import { TASK_ALPHABET } from "../tokenizer/char.ts";

/** Short on purpose: in a tiny model every prompt token costs context and compute. */
export const SYSTEM_PROMPT =
  `Think step by step in ${THINK_OPEN}${THINK_CLOSE}, then answer in ${ANSWER_OPEN}${ANSWER_CLOSE}.`;

/**
 * True when `text` is made only of the reasoning tags and the characters of the built-in task:
 * the task tokenizer's vocabulary is exactly these (plus special tokens).
 */
export const usesTaskAlphabet = (text: string): boolean => {
  const withoutTags = REASONING_TAGS.reduce((rest, tag) => rest.split(tag).join(""), text);
  return [...withoutTags].every((ch) => TASK_ALPHABET.includes(ch));
};

/**
 * The chat messages that pose `example.problem` to the model. No system prompt by default:
 * the built-in tiny model learns the format in pretraining, and every prompt token costs it
 * context and compute. Pass SYSTEM_PROMPT (or another) for models that read instructions.
 */
export const taskPrompt = (
  example: { readonly problem: string },
  system: string | null = null,
): readonly ChatMessage[] => [
  ...(system === null ? [] : [{ role: "system" as const, content: system }]),
  { role: "user", content: example.problem },
];
