/**
 * Length-shaped rewards: Kimi 1.5's batch length reward and open-r1's cosine-scaled reward
 * (both use answer correctness and lengths in code points, as Python's `len`), and DAPO's
 * soft overlong punishment (token lengths).
 */
import { batchCorrectness } from "./accuracy.ts";
import { codePointLength } from "./text.ts";
import { type BatchExtra, type BatchRewardFn, checkBatch, type Example } from "./types.ts";

/**
 * Kimi 1.5 length reward over the whole batch: λ = 0.5 − (L − Lmin)/(Lmax − Lmin);
 * λ when correct, min(0, λ) when wrong; all 0 when every length is equal. As in open-r1,
 * an example whose gold answer does not parse counts as correct.
 */
export const kimiLengthRewards: BatchRewardFn = (
  completions: readonly string[],
  examples: readonly Example[],
  extra?: BatchExtra,
): (number | null)[] => {
  checkBatch("length", completions, examples, extra);
  if (completions.length === 0) return [];
  const correct = batchCorrectness(completions, examples);
  const lengths = completions.map(codePointLength);
  const min = lengths.reduce((a, b) => Math.min(a, b));
  const max = lengths.reduce((a, b) => Math.max(a, b));
  if (max === min) return lengths.map(() => 0);
  return lengths.map((length, i) => {
    const lambda = 0.5 - (length - min) / (max - min);
    return correct[i] === false ? Math.min(0, lambda) : lambda;
  });
};

/**
 * open-r1's cosine-scaled reward: correct answers earn more when short, wrong ones lose less when
 * long.
 */
export interface CosineOptions {
  /** Reward of a wrong answer of length 0 (the harshest). */
  readonly minValueWrong: number;
  /** Reward of a wrong answer at maxLen. */
  readonly maxValueWrong: number;
  /** Reward of a correct answer at maxLen. */
  readonly minValueCorrect: number;
  /** Reward of a correct answer of length 0 (the best). */
  readonly maxValueCorrect: number;
  /** Characters at which the cosine reaches its far end (progress is not clipped). */
  readonly maxLen: number;
}

/** open-r1's script defaults (the paper's runs; some Tina runs used maxLen 3584). */
export const defaultCosineOptions: CosineOptions = {
  minValueWrong: 0,
  maxValueWrong: -0.5,
  minValueCorrect: 0.5,
  maxValueCorrect: 1,
  maxLen: 1000,
};

/** The cosine-scaled value for one completion length and correctness. */
export const cosineScaled = (length: number, correct: boolean, o: CosineOptions): number => {
  const cosine = Math.cos((length / o.maxLen) * Math.PI);
  // Wrong answers swap the ends: short wrong answers are punished more than long ones.
  const [lo, hi] = correct
    ? [o.minValueCorrect, o.maxValueCorrect]
    : [o.maxValueWrong, o.minValueWrong];
  return lo + 0.5 * (hi - lo) * (1 + cosine);
};

/**
 * open-r1's cosine-scaled reward: r = lo + ½(hi − lo)(1 + cos(π·L/maxLen)). Null where the
 * gold answer does not parse (open-r1 returns 1.0 there; either way the group is constant).
 */
export const cosineScaledRewards = (options: Partial<CosineOptions> = {}): BatchRewardFn => {
  const o = { ...defaultCosineOptions, ...options };
  if (!(o.maxLen > 0)) throw new Error(`cosine reward: maxLen must be positive, got ${o.maxLen}`);
  return (completions, examples, extra) => {
    checkBatch("cosine", completions, examples, extra);
    const correct = batchCorrectness(completions, examples);
    return completions.map((c, i) => {
      const ok = correct[i];
      return ok === null ? null : cosineScaled(codePointLength(c), ok, o);
    });
  };
};

/**
 * DAPO's soft overlong punishment: 0 up to maxCompletionLength − softPunishCache tokens, then down
 * to −1.
 */
export interface SoftOverlongOptions {
  /** Where the punishment reaches −1 (tokens). */
  readonly maxCompletionLength: number;
  /** The length of the ramp before it (tokens). */
  readonly softPunishCache: number;
}

/** open-r1's script defaults. */
export const defaultSoftOverlongOptions: SoftOverlongOptions = {
  maxCompletionLength: 16384,
  softPunishCache: 4096,
};

/** DAPO: 0 up to M − C tokens, then linearly down to −1 at M, −1 beyond. */
export const softOverlongPunishment = (
  options: Partial<SoftOverlongOptions> = {},
): (tokenLength: number) => number => {
  const { maxCompletionLength: m, softPunishCache: c } = {
    ...defaultSoftOverlongOptions,
    ...options,
  };
  if (!(m > 0) || !(c > 0) || c > m) {
    throw new Error(
      `soft_overlong reward: need 0 < softPunishCache (${c}) <= maxCompletionLength (${m})`,
    );
  }
  return (tokenLength: number): number =>
    tokenLength <= m - c ? 0 : tokenLength <= m ? (m - c - tokenLength) / c : -1;
};

/** The soft overlong punishment over a batch; token lengths come in `extra`. */
export const softOverlongRewards = (options: Partial<SoftOverlongOptions> = {}): BatchRewardFn => {
  const punish = softOverlongPunishment(options);
  return (completions, examples, extra) => {
    checkBatch("soft_overlong", completions, examples, extra);
    const lengths = extra?.completionTokenLengths;
    if (lengths === undefined) {
      throw new Error("soft_overlong reward: needs extra.completionTokenLengths (token counts)");
    }
    return lengths.map(punish);
  };
};
