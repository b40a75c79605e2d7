/**
 * open-r1's n-gram repetition penalty: words are the lowercased text split on Python
 * whitespace; reward = (1 − distinct n-grams / all n-grams) · maxPenalty, 0 for empty text
 * or fewer words than n.
 */
import { wordIds } from "./text.ts";

/** open-r1's repetition penalty settings. */
export interface RepetitionOptions {
  /** Length of the word n-grams compared. */
  readonly ngramSize: number;
  /** At most 0: the reward for a text that is all repetition. */
  readonly maxPenalty: number;
}

/** open-r1's defaults: 3-grams, down to −1. */
export const defaultRepetitionOptions: RepetitionOptions = { ngramSize: 3, maxPenalty: -1 };

/** Number of distinct n-grams, hashing word ids instead of joining strings. */
const distinctNgrams = (ids: Int32Array, n: number, vocabulary: number): number => {
  const base = vocabulary + 1;
  // Exact numeric keys while base^n stays below 2^53; string keys otherwise.
  const numeric = n * Math.log2(base) < 53;
  const seen = new Set<number | string>();
  for (let i = 0; i + n <= ids.length; i++) {
    if (numeric) {
      let key = 0;
      for (let j = 0; j < n; j++) key = key * base + ids[i + j];
      seen.add(key);
    } else seen.add(ids.subarray(i, i + n).join(" "));
  }
  return seen.size;
};

/** The penalty of a text: (1 − distinct n-grams / n-grams) · maxPenalty. */
export const repetitionPenalty = (
  options: Partial<RepetitionOptions> = {},
): (completion: string) => number => {
  const { ngramSize, maxPenalty } = { ...defaultRepetitionOptions, ...options };
  if (!Number.isInteger(ngramSize) || ngramSize < 1) {
    throw new Error(`repetition reward: ngramSize must be a positive integer, got ${ngramSize}`);
  }
  if (!(maxPenalty <= 0)) {
    throw new Error(`repetition reward: maxPenalty ${maxPenalty} should not be positive`);
  }
  return (completion: string): number => {
    const { ids, vocabulary } = wordIds(completion.toLowerCase());
    if (ids.length < ngramSize) return 0;
    const total = ids.length - ngramSize + 1;
    const distinct = distinctNgrams(ids, ngramSize, vocabulary);
    return distinct === total ? 0 : (1 - distinct / total) * maxPenalty; // 0, not -0
  };
};
