/**
 * The shapes every reward function shares. A reward is pure: (completion, example) in,
 * a number out, or null for "not scorable here" (the combiner counts null as 0).
 */

/** One dataset row. The gold answer is `answer` when present, else `solution`. */
export interface Example {
  readonly problem?: string;
  readonly answer?: string;
  readonly solution?: string;
}

/** Where a completion sits in its batch, and what the sampler knows about it. */
export interface BatchContext {
  readonly index: number;
  /** Completion length in tokens (needed by the soft overlong punishment). */
  readonly completionTokenLength?: number;
}

/** Batch-wide facts the text alone does not carry. */
export interface BatchExtra {
  /** One token count per completion, in batch order. */
  readonly completionTokenLengths?: readonly number[];
}

export type RewardFn = (completion: string, example: Example, ctx?: BatchContext) => number | null;

export type BatchRewardFn = (
  completions: readonly string[],
  examples: readonly Example[],
  extra?: BatchExtra,
) => (number | null)[];

/** The reference answer of an example, or undefined when it has none. */
export const goldAnswer = (example: Example): string | undefined =>
  example.answer ?? example.solution;

/** Throws unless the batch arrays line up; names the reward that was called. */
export const checkBatch = (
  reward: string,
  completions: readonly string[],
  examples: readonly Example[],
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
};

/** Lifts a per-completion reward to the batch shape the combiner works on. */
export const liftReward =
  (name: string, fn: RewardFn): BatchRewardFn => (completions, examples, extra) => {
    checkBatch(name, completions, examples, extra);
    return completions.map((completion, index) =>
      fn(completion, examples[index], {
        index,
        completionTokenLength: extra?.completionTokenLengths?.[index],
      })
    );
  };
