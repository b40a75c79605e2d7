/**
 * The built-in verifiable reasoning task: short integer expressions ("Compute 23+45-17.") with
 * a step-by-step reference solution, small enough for a tiny model to learn on a CPU.
 *
 * Example i of a stream depends only on (key, i), so a longer stream extends a shorter one.
 */
import { foldIn, type Key, prngKey, split, uniform } from "../../random/prng.ts";
import { formatCompletion } from "../../format_tags.ts";

export type Example = {
  readonly problem: string;
  readonly answer: string;
  /** The full reference completion (reasoning and answer), for supervised pretraining. */
  readonly solution: string;
};

/** The operators of the built-in arithmetic task. */
export type Operator = "+" | "-" | "*";

/** How the built-in arithmetic problems are drawn: operand counts and ranges, operators. */
export type ArithmeticOptions = {
  readonly minOperands: number;
  readonly maxOperands: number;
  /** Operands of + and - are drawn from 0..maxValue. */
  readonly maxValue: number;
  /** Operands of * are drawn from 0..maxFactor, so products stay small. */
  readonly maxFactor: number;
  readonly operators: readonly Operator[];
};

/** The problems the tiny model was trained on. */
export const DEFAULT_ARITHMETIC_OPTIONS: ArithmeticOptions = {
  minOperands: 2,
  maxOperands: 3,
  maxValue: 9,
  maxFactor: 9,
  operators: ["+", "-"],
};

const OPERATORS: readonly Operator[] = ["+", "-", "*"];

const checkOptions = (o: ArithmeticOptions): ArithmeticOptions => {
  const isInt = (x: number, min: number) => Number.isInteger(x) && x >= min;
  const fail = (field: string, expected: string, got: unknown) => {
    throw new Error(
      `arithmetic options: "${field}" must be ${expected}, got ${JSON.stringify(got)}`,
    );
  };
  if (!isInt(o.minOperands, 2)) fail("minOperands", "an integer >= 2", o.minOperands);
  if (!isInt(o.maxOperands, o.minOperands)) {
    fail("maxOperands", `an integer >= minOperands (${o.minOperands})`, o.maxOperands);
  }
  if (!isInt(o.maxValue, 1)) fail("maxValue", "an integer >= 1", o.maxValue);
  if (!isInt(o.maxFactor, 1)) fail("maxFactor", "an integer >= 1", o.maxFactor);
  if (o.operators.length === 0 || !o.operators.every((op) => OPERATORS.includes(op))) {
    fail("operators", `a non-empty list of ${OPERATORS.join(" ")}`, o.operators);
  }
  return o;
};

const resolveOptions = (opts: Partial<ArithmeticOptions>): ArithmeticOptions =>
  checkOptions({ ...DEFAULT_ARITHMETIC_OPTIONS, ...opts });

/** `count` integers uniform in [0, max], one key for all. */
const drawIntegers = (key: Key, count: number, max: number): number[] =>
  Array.from(uniform(key, count), (u) => Math.floor(u * (max + 1)));

/**
 * Worked steps in the order a person computes them: products first (left to right), then
 * sums and differences left to right, one "a+b=c" line per step.
 */
const solve = (operands: readonly number[], operators: readonly Operator[]) => {
  const steps: string[] = [];
  const terms: number[] = [operands[0]];
  const signs: Operator[] = [];
  operators.forEach((op, i) => {
    const next = operands[i + 1];
    if (op === "*") {
      const left = terms[terms.length - 1];
      steps.push(`${left}*${next}=${left * next}`);
      terms[terms.length - 1] = left * next;
    } else {
      signs.push(op);
      terms.push(next);
    }
  });
  const value = signs.reduce((acc, op, i) => {
    const result = op === "+" ? acc + terms[i + 1] : acc - terms[i + 1];
    steps.push(`${acc}${op}${terms[i + 1]}=${result}`);
    return result;
  }, terms[0]);
  return { steps, value };
};

const exampleFrom = (key: Key, o: ArithmeticOptions): Example => {
  const [countKey, operatorKey, valueKey, factorKey] = split(key, 4);
  const count = o.minOperands + drawIntegers(countKey, 1, o.maxOperands - o.minOperands)[0];
  const operators = drawIntegers(operatorKey, count - 1, o.operators.length - 1)
    .map((i) => o.operators[i]);
  const values = drawIntegers(valueKey, count, o.maxValue);
  const factors = drawIntegers(factorKey, count, o.maxFactor);
  const isFactor = (i: number) => operators[i - 1] === "*" || operators[i] === "*";
  const operands = values.map((v, i) => isFactor(i) ? factors[i] : v);
  const expression = operands.map((v, i) => i === 0 ? `${v}` : `${operators[i - 1]}${v}`)
    .join("");
  const { steps, value } = solve(operands, operators);
  const answer = `${value}`;
  return { problem: `Compute ${expression}.`, answer, solution: formatCompletion(steps, answer) };
};

/** `n` problems from `key`; example i depends only on (key, i). */
export const generateArithmetic = (
  key: Key,
  n: number,
  opts: Partial<ArithmeticOptions> = {},
): Example[] => {
  const o = resolveOptions(opts);
  return Array.from({ length: n }, (_, i) => exampleFrom(foldIn(key, i), o));
};

/**
 * The first `n` examples of the stream from `key` that `keep` accepts. Gives up with an error
 * rather than looping forever when the options allow too few distinct problems.
 */
const takeWhere = (
  key: Key,
  n: number,
  o: ArithmeticOptions,
  keep: (e: Example) => boolean,
): Example[] => {
  const out: Example[] = [];
  const maxTries = 100 * n + 1000;
  for (let i = 0; out.length < n && i < maxTries; i++) {
    const e = exampleFrom(foldIn(key, i), o);
    if (keep(e)) out.push(e);
  }
  if (out.length < n) {
    throw new Error(
      `arithmeticSplits: found only ${out.length} of ${n} problems in ${maxTries} draws; ` +
        `the options allow too few distinct problems (raise maxValue or maxOperands)`,
    );
  }
  return out;
};

export type ArithmeticSplits = {
  readonly train: readonly Example[];
  readonly heldOut: readonly Example[];
};

/**
 * Disjoint train and held-out sets: held-out problems are distinct and depend only on `seed`
 * and the options (not on the train size); train never repeats a held-out problem.
 */
export const arithmeticSplits = (
  seed: number,
  sizes: { readonly train: number; readonly heldOut: number },
  opts: Partial<ArithmeticOptions> = {},
): ArithmeticSplits => {
  const o = resolveOptions(opts);
  const [heldOutKey, trainKey] = split(prngKey(seed), 2);
  const heldOutProblems = new Set<string>();
  const isNewProblem = (e: Example): boolean => {
    if (heldOutProblems.has(e.problem)) return false;
    heldOutProblems.add(e.problem);
    return true;
  };
  const heldOut = takeWhere(heldOutKey, sizes.heldOut, o, isNewProblem);
  const train = takeWhere(trainKey, sizes.train, o, (e) => !heldOutProblems.has(e.problem));
  return { train, heldOut };
};
