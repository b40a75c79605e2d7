/**
 * The accuracy reward (open-r1 / Math-Verify semantics): 1 when the completion's final
 * answer equals the gold answer, 0 when it does not or gives none, null when the gold
 * answer itself cannot be parsed (the example is skipped, not rewarded).
 */
import { isFullyParsed, parseAnswer, type ParsedAnswer, parsedAnswersEqual } from "./equal.ts";
import { extractAnswer, lastPlainNumber } from "./extract.ts";
import {
  type BatchExtra,
  type BatchRewardFn,
  checkBatch,
  type Example,
  goldAnswer,
} from "./types.ts";

// Gold answers recur (one per group of completions): parsed ones are remembered, a bounded
// number of them.
const parsedGolds = new Map<string, ParsedAnswer | null>();
const maxParsedGolds = 4096;

/** The gold answer: its boxed / tagged / math-span answer if it has one, else all of it. */
export const parseGold = (solution: string): ParsedAnswer | null => {
  const known = parsedGolds.get(solution);
  if (known !== undefined || parsedGolds.has(solution)) return known ?? null;
  const parsed = parseAnswer(extractAnswer(solution) ?? solution);
  const gold = parsed && isFullyParsed(parsed) ? parsed : null;
  if (parsedGolds.size >= maxParsedGolds) parsedGolds.clear();
  parsedGolds.set(solution, gold);
  return gold;
};

/**
 * The completion's answer, parsed; when what was extracted does not parse, its last plain
 * number is the second candidate (as Math-Verify falls back to its expression extraction).
 */
const parsePrediction = (completion: string): ParsedAnswer | null => {
  const answer = extractAnswer(completion);
  if (answer === null) return null;
  const parsed = parseAnswer(answer);
  if (parsed !== null && isFullyParsed(parsed)) return parsed;
  const number = lastPlainNumber(completion);
  return number === null || number === answer ? parsed : parseAnswer(number) ?? parsed;
};

/** Whether the completion's answer equals the parsed gold answer. Never throws. */
export const isCorrect = (completion: string, gold: ParsedAnswer): boolean => {
  const predicted = parsePrediction(completion);
  return predicted !== null && parsedAnswersEqual(gold, predicted);
};

/**
 * 1 if the completion's final answer equals the solution's, 0 if not, null when the solution has no
 * checkable answer.
 */
export const accuracyReward = (completion: string, solution: string): number | null => {
  const gold = parseGold(solution);
  return gold === null ? null : isCorrect(completion, gold) ? 1 : 0;
};

/**
 * Correctness of each completion (null where the gold answer is missing or unparseable).
 * Each distinct gold answer is parsed once per batch.
 */
export const batchCorrectness = (
  completions: readonly string[],
  examples: readonly Example[],
): (boolean | null)[] => {
  const golds = new Map<string, ParsedAnswer | null>();
  return completions.map((completion, i) => {
    const solution = goldAnswer(examples[i]);
    if (solution === undefined) return null;
    if (!golds.has(solution)) golds.set(solution, parseGold(solution));
    const gold = golds.get(solution)!;
    return gold === null ? null : isCorrect(completion, gold);
  });
};

/** The accuracy reward over a batch. */
export const accuracyRewards: BatchRewardFn = (
  completions: readonly string[],
  examples: readonly Example[],
  extra?: BatchExtra,
): (number | null)[] => {
  checkBatch("accuracy", completions, examples, extra);
  return batchCorrectness(completions, examples).map((c) => (c === null ? null : c ? 1 : 0));
};
