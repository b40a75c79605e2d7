/**
 * Whether a dataset's gold answers can be graded at all: the accuracy reward gives null (no
 * signal) for a gold answer it cannot parse, so a file of such answers would train on the
 * format reward alone without a word. Checked up front, on a sample.
 */
import { goldAnswerOf } from "../eval/evaluate.ts";
import { parseAnswer } from "../rewards/equal.ts";

export interface GoldCheck {
  readonly checked: number;
  /** 1-based positions (within the sample) of gold answers that do not parse. */
  readonly unparsable: readonly number[];
}

/** Parses the gold answers of the first `limit` examples. */
export const checkGoldAnswers = (
  examples: readonly {
    readonly problem: string;
    readonly answer?: string;
    readonly solution?: string;
  }[],
  limit = 200,
): GoldCheck => {
  const sample = examples.slice(0, limit);
  const unparsable = sample.flatMap((ex, i) =>
    parseAnswer(goldAnswerOf(ex, i)) === null ? [i + 1] : []
  );
  return { checked: sample.length, unparsable };
};
