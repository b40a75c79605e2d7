/**
 * A run's prompt style as the chat messages each problem is posed in: the paper's math prompt,
 * the built-in task's, or a user template (an optional system message and a user message with
 * `{problem}` where the problem goes).
 */
import { paperPrompt } from "../eval/evaluate.ts";
import type { ChatMessage } from "../tokenizer/hf.ts";
import type { PromptSpec } from "./run_config.ts";
import { taskPrompt } from "../data/prompt.ts";

export const promptOfSpec = (
  spec: PromptSpec,
): (example: { readonly problem: string }) => readonly ChatMessage[] =>
  spec.style === "paper" ? paperPrompt : spec.style === "task" ? (ex) => taskPrompt(ex) : (ex) => [
    ...(spec.system === null ? [] : [{ role: "system", content: spec.system }]),
    { role: "user", content: spec.user.split("{problem}").join(ex.problem) },
  ];
