/**
 * The reasoning format our tasks teach and our format rewards check:
 * `<think>\n...\n</think>\n<answer>\n...\n</answer>`, and the chat prompt that asks for it.
 */

export type ChatMessage = {
  readonly role: "system" | "user" | "assistant";
  readonly content: string;
};

/**
 * The tags of the reasoning format, and every other character the built-in task and its prompt
 * use: the task tokenizer's vocabulary is exactly these (plus special tokens).
 */
import {
  REASONING_TAGS as FORMAT_TAGS,
  TASK_ALPHABET as TASK_CHARACTERS,
} from "../tokenizer/char.ts";

export { FORMAT_TAGS, TASK_CHARACTERS };

/** Short on purpose: in a tiny model every prompt token costs context and compute. */
export const SYSTEM_PROMPT =
  "Think step by step in <think></think>, then answer in <answer></answer>.";

/** True when `text` is made only of TASK_CHARACTERS and FORMAT_TAGS. */
export const usesTaskAlphabet = (text: string): boolean => {
  const withoutTags = FORMAT_TAGS.reduce((rest, tag) => rest.split(tag).join(""), text);
  return [...withoutTags].every((ch) => TASK_CHARACTERS.includes(ch));
};

/** A completion in the reasoning format: one line per reasoning step, then the answer. */
export const formatCompletion = (steps: readonly string[], answer: string): string =>
  `<think>\n${steps.join("\n")}\n</think>\n<answer>\n${answer}\n</answer>`;

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
