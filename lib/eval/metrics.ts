/**
 * Evaluation math, pure: pass@k (the unbiased estimator of Chen et al. 2021), mean pass@1,
 * majority vote maj@k, a per-benchmark summary row, and a plain aligned text table.
 */

const fail = (fn: string, message: string): never => {
  throw new Error(`${fn}: ${message}`);
};

/**
 * Probability that at least one of k samples, drawn without replacement from n samples of
 * which c are correct, is correct: 1 - C(n-c, k) / C(n, k). Computed as a product of ratios,
 * 1 - prod_{i=n-c+1}^{n} (1 - k/i), because the binomials overflow for large n.
 */
export const passAtK = (n: number, c: number, k: number): number => {
  if (!Number.isInteger(n) || n < 1) fail("passAtK", `n must be a positive integer, got ${n}`);
  if (!Number.isInteger(c) || c < 0 || c > n) {
    fail("passAtK", `c must be an integer in [0, n=${n}], got ${c}`);
  }
  if (!Number.isInteger(k) || k < 1 || k > n) {
    fail("passAtK", `k must be an integer in [1, n=${n}], got ${k}`);
  }
  if (n - c < k) return 1; // every k-subset contains a correct sample
  let allWrong = 1;
  for (let i = n - c + 1; i <= n; i++) allWrong *= 1 - k / i;
  return 1 - allWrong;
};

const mean = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;

/** Mean over problems of each problem's fraction of correct samples. */
export const meanPassAt1 = (correct: readonly (readonly boolean[])[]): number => {
  if (correct.length === 0) fail("meanPassAt1", "no problems");
  return mean(correct.map((samples, p) => {
    if (samples.length === 0) fail("meanPassAt1", `problem ${p} has no samples`);
    return samples.filter(Boolean).length / samples.length;
  }));
};

/** Decides whether a candidate answer equals the reference. */
export type AnswerEquality = (candidate: string, reference: string) => boolean;

const sameString: AnswerEquality = (a, b) => a === b;

/**
 * Majority vote over the first k extracted answers (null: no answer, no vote): is the most
 * frequent answer equal to `gold`? Answers are grouped with `equal`, each joining the first
 * group it equals; ties go to the group seen first. No answers at all counts as wrong.
 */
export const majAtK = (
  answers: readonly (string | null)[],
  gold: string,
  k: number,
  equal: AnswerEquality = sameString,
): boolean => {
  if (!Number.isInteger(k) || k < 1 || k > answers.length) {
    fail("majAtK", `k must be an integer in [1, ${answers.length}], got ${k}`);
  }
  const groups: { readonly answer: string; votes: number }[] = [];
  for (const answer of answers.slice(0, k)) {
    if (answer === null) continue;
    const group = groups.find((g) => equal(answer, g.answer));
    if (group) group.votes++;
    else groups.push({ answer, votes: 1 });
  }
  const winner = groups.reduce<(typeof groups)[number] | null>(
    (best, g) => best === null || g.votes > best.votes ? g : best,
    null,
  );
  return winner !== null && equal(winner.answer, gold);
};

/** One problem's samples: whether each was correct and the answer extracted from each. */
export type ProblemSamples = {
  readonly correct: readonly boolean[];
  readonly answers: readonly (string | null)[];
  readonly gold: string;
};

/** An evaluation's headline numbers: pass@1, pass@k, maj@k over the problems. */
export type SummaryRow = {
  readonly problems: number;
  /** Samples per problem. */
  readonly samples: number;
  readonly k: number;
  readonly "pass@1": number;
  readonly "pass@k": number;
  readonly "maj@k": number;
};

/**
 * Averages pass@1, pass@k and maj@k over problems that each have the same number of samples.
 * `k` defaults to that number.
 */
export const summarize = (
  perProblem: readonly ProblemSamples[],
  opts: { readonly k?: number; readonly equal?: AnswerEquality } = {},
): SummaryRow => {
  if (perProblem.length === 0) fail("summarize", "no problems");
  const samples = perProblem[0].correct.length;
  perProblem.forEach((p, i) => {
    if (p.correct.length !== samples || p.answers.length !== samples) {
      fail(
        "summarize",
        `problem ${i} has ${p.correct.length} results and ${p.answers.length} answers, ` +
          `expected ${samples} of each (as problem 0)`,
      );
    }
  });
  const k = opts.k ?? samples;
  const count = (p: ProblemSamples) => p.correct.filter(Boolean).length;
  return {
    problems: perProblem.length,
    samples,
    k,
    "pass@1": meanPassAt1(perProblem.map((p) => p.correct)),
    "pass@k": mean(perProblem.map((p) => passAtK(samples, count(p), k))),
    "maj@k": mean(perProblem.map((p) => majAtK(p.answers, p.gold, k, opts.equal) ? 1 : 0)),
  };
};

/** A cell of a printed table. */
export type TableCell = string | number;

const formatCell = (value: TableCell | undefined, digits: number): string =>
  value === undefined
    ? ""
    : typeof value === "number" && !Number.isInteger(value)
    ? value.toFixed(digits)
    : String(value);

/**
 * An aligned plain-text table: columns are the rows' keys in first-seen order, numbers are
 * right-aligned (fractions with `digits` decimals), text left-aligned.
 */
export const formatTable = (
  rows: readonly Readonly<Record<string, TableCell>>[],
  digits = 3,
): string => {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cells = rows.map((r) => columns.map((c) => formatCell(r[c], digits)));
  const widths = columns.map((c, j) => Math.max(c.length, ...cells.map((r) => r[j].length)));
  const numeric = columns.map((c) =>
    rows.every((r) => r[c] === undefined || typeof r[c] === "number")
  );
  const pad = (text: string, j: number) =>
    numeric[j] ? text.padStart(widths[j]) : text.padEnd(widths[j]);
  const line = (texts: readonly string[]) => texts.map(pad).join("  ").trimEnd();
  return [line(columns), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
};
