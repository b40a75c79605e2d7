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
import type { ChatMessage, Tokenizer } from "../tokenizer/hf.ts";
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

export interface EncodePromptOptions {
  /** The model's vocabulary size: an id at or above it means the tokenizer is not the model's. */
  readonly vocabSize: number;
  /** Keep only the last `maxLength` tokens (Tina truncates prompts on the left). */
  readonly maxLength?: number;
  /** Where the prompt comes from, for errors ("evaluate: problem 3"). */
  readonly where: string;
}

/** Chat-templated prompt ids with the generation prompt, as training and evaluation sample them. */
export const encodePrompt = (
  tokenizer: Tokenizer,
  messages: readonly ChatMessage[],
  { vocabSize, maxLength = Infinity, where }: EncodePromptOptions,
): number[] => {
  const ids = tokenizer.encode(
    tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true }),
  );
  const bad = ids.find((id) => id >= vocabSize);
  if (bad !== undefined) {
    throw new Error(
      `${where}: prompt token id ${bad} is outside the model's vocabulary (${vocabSize}); ` +
        `the tokenizer does not belong to this model`,
    );
  }
  return ids.length > maxLength ? ids.slice(ids.length - maxLength) : ids;
};
