/**
 * The shapes every reward function shares. A reward is pure: (completion, example) in,
 * a number out, or null for "not scorable here" (the combiner counts null as 0).
 * @module
 */
import type { ChatMessage } from "../tokenizer/hf.ts";

/** The columns the built-in rewards read. The gold answer is `answer` when present, else `solution`. */
export interface MathColumns {
  /** The problem statement. */
  readonly problem?: string;
  /** The reference final answer. */
  readonly answer?: string;
  /** A worked solution whose last boxed/tagged answer is the reference (when `answer` is absent). */
  readonly solution?: string;
}

/**
 * One dataset row: the math columns plus every other column the dataset has, typed by
 * `Columns`, so a custom reward reads e.g. `example.difficulty` without a cast.
 *
 * @example
 * ```ts
 * type Row = Example<{ difficulty: number }>;
 * const harder = (completion: string, ex: Row) => (completion.includes(ex.answer ?? "?") ? ex.difficulty : 0);
 * ```
 */
export type Example<Columns extends object = object> = MathColumns & Readonly<Columns>;

/** Where a completion sits in its batch, and what the sampler knows about it. */
export interface BatchContext {
  /** The completion's position in the batch. */
  readonly index: number;
  /** Completion length in tokens (needed by the soft overlong punishment). */
  readonly completionTokenLength?: number;
  /** The chat prompt the completion answers, when the caller passed prompts. */
  readonly prompt?: readonly ChatMessage[];
}

/** Batch-wide facts the text alone does not carry. */
export interface BatchExtra {
  /** One token count per completion, in batch order. */
  readonly completionTokenLengths?: readonly number[];
  /** One chat prompt per completion, in batch order (the trainer passes them). */
  readonly prompts?: readonly (readonly ChatMessage[])[];
}

/** A reward for one completion: a number, or null for "not scorable here". */
export type RewardFn<Columns extends object = object> = (
  completion: string,
  example: Example<Columns>,
  ctx?: BatchContext,
) => number | null;

/** A reward over a whole batch: one value (or null) per completion, in batch order. */
export type BatchRewardFn<Columns extends object = object> = (
  completions: readonly string[],
  examples: readonly Example<Columns>[],
  extra?: BatchExtra,
) => (number | null)[];

/** The reference answer of an example, or undefined when it has none. */
export const goldAnswer = (example: MathColumns): string | undefined =>
  example.answer ?? example.solution;

/** Throws unless the batch arrays line up; names the reward that was called. */
export const checkBatch = (
  reward: string,
  completions: readonly string[],
  examples: readonly unknown[],
  extra?: BatchExtra,
): void => {
  if (completions.length !== examples.length) {
    throw new Error(
      `reward ${reward}: ${completions.length} completions but ${examples.length} examples`,
    );
  }
  const lengths = extra?.completionTokenLengths;
  if (lengths !== undefined && lengths.length !== completions.length) {
    throw new Error(
      `reward ${reward}: extra.completionTokenLengths has ${lengths.length} entries ` +
        `for ${completions.length} completions`,
    );
  }
  const prompts = extra?.prompts;
  if (prompts !== undefined && prompts.length !== completions.length) {
    throw new Error(
      `reward ${reward}: extra.prompts has ${prompts.length} entries ` +
        `for ${completions.length} completions`,
    );
  }
};

/** Lifts a per-completion reward to the batch shape the combiner works on. */
export const liftReward = <Columns extends object = object>(
  name: string,
  fn: RewardFn<Columns>,
): BatchRewardFn<Columns> =>
(completions, examples, extra) => {
  checkBatch(name, completions, examples, extra);
  return completions.map((completion, index) =>
    fn(completion, examples[index], {
      index,
      completionTokenLength: extra?.completionTokenLengths?.[index],
      prompt: extra?.prompts?.[index],
    })
  );
};
