/**
 * Mathematical equality of two answers, in the manner of Math-Verify: structures compare
 * as structures (sets unordered, tuples ordered, intervals with their closedness),
 * expressions compare by value (numerically at fixed sample points, so symbolic identities
 * hold), percentages match both their fraction and their number, and `x = 5` matches `5`.
 */
import { type Complex, evaluateLatex, type ExprValue } from "./engine.ts";
import { normalizeAnswer } from "./normalize.ts";
import { type AnswerTree, leaves, parseStructure, type RelationOp } from "./structure.ts";

/** One expression leaf, evaluated. */
type Leaf =
  | { readonly kind: "word"; readonly text: string }
  | {
    readonly kind: "math";
    readonly text: string;
    readonly value: ExprValue;
    readonly percent: boolean;
    /** False when the source has a decimal literal: then 6-decimal rounding applies. */
    readonly exact: boolean;
  };

export interface ParsedAnswer {
  readonly tree: AnswerTree;
  /** Each distinct leaf's evaluation; null where the engine could not parse it. */
  readonly leaves: ReadonlyMap<string, Leaf | null>;
}

// Caps that keep one parse well under 50 ms (each leaf costs the engine ~0.5-10 ms).
const maxAnswerLength = 1000;
const maxLeaves = 16;
const maxLeafCharacters = 240;

const evaluateLeaf = (latex: string): Leaf | null => {
  if (/^[A-Za-z ]*[A-Za-z]{3}[A-Za-z ]*$/.test(latex)) {
    // Three or more words is prose, not an answer; fewer is a textual answer ("Evelyn").
    return latex.split(" ").length >= 3 ? null : { kind: "word", text: latex.toLowerCase() };
  }
  const percent = /\\%$/.test(latex);
  const body = percent ? latex.slice(0, -2) : latex;
  const value = evaluateLatex(body);
  return value &&
    { kind: "math", text: body.replace(/\s+/g, ""), value, percent, exact: !/\d*\.\d/.test(body) };
};

/** Normalizes and parses an answer; null when nothing parseable is left. Never throws. */
export const parseAnswer = (answer: string): ParsedAnswer | null => {
  if (answer.length > maxAnswerLength) return null;
  const normalized = normalizeAnswer(answer);
  if (normalized === "") return null;
  const tree = parseStructure(normalized);
  const texts = leaves(tree);
  const characters = texts.reduce((n, t) => n + t.length, 0);
  if (texts.length > maxLeaves || characters > maxLeafCharacters) return null;
  return { tree, leaves: new Map(texts.map((t) => [t, evaluateLeaf(t)])) };
};

/** True when every leaf parsed: the test a gold answer must pass to be scorable. */
export const isFullyParsed = (answer: ParsedAnswer): boolean =>
  [...answer.leaves.values()].every((leaf) => leaf !== null);

const magnitude = ([re, im]: Complex): number => Math.hypot(re, im);
const sub = (a: Complex, b: Complex): Complex => [a[0] - b[0], a[1] - b[1]];
const mul = (
  a: Complex,
  b: Complex,
): Complex => [a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]];
const div = (a: Complex, b: Complex): Complex => {
  const d = b[0] * b[0] + b[1] * b[1];
  return [(a[0] * b[0] + a[1] * b[1]) / d, (a[1] * b[0] - a[0] * b[1]) / d];
};
const scale = (a: Complex, k: number): Complex => [a[0] * k, a[1] * k];

/** Closeness: 6-decimal rounding when a decimal is involved (Math-Verify), else tight. */
const close = (x: Complex, y: Complex, absolute: number, relative: number): boolean => {
  if (x[0] === y[0] && x[1] === y[1]) return true; // also equal infinities
  if (![...x, ...y].every(Number.isFinite)) return false;
  const d = magnitude(sub(x, y));
  return d <= absolute || d <= relative * Math.max(magnitude(x), magnitude(y));
};

const mathLeavesEqual = (
  a: Extract<Leaf, { kind: "math" }>,
  b: Extract<Leaf, { kind: "math" }>,
): boolean => {
  if (a.percent === b.percent && (a.text === b.text || a.value.key === b.value.key)) return true;
  const sa = a.value.samples;
  const sb = b.value.samples;
  if (sa === null || sb === null) return false;
  const exact = a.exact && b.exact;
  const absolute = exact ? 1e-12 : 1e-6;
  const relative = a.value.hasUnknowns || b.value.hasUnknowns ? 1e-9 : exact ? 1e-11 : 1e-12;
  // 50% matches both 0.5 and 50.
  const scalesA = a.percent ? [0.01, 1] : [1];
  const scalesB = b.percent ? [0.01, 1] : [1];
  return scalesA.some((ka) =>
    scalesB.some((kb) =>
      sa.every((x, i) => close(scale(x, ka), scale(sb[i], kb), absolute, relative))
    )
  );
};

const leavesEqual = (a: Leaf | null | undefined, b: Leaf | null | undefined): boolean => {
  if (!a || !b) return false;
  if (a.kind === "word" || b.kind === "word") {
    return a.kind === b.kind && (a as { text: string }).text === (b as { text: string }).text;
  }
  return mathLeavesEqual(a, b);
};

/** Two answers side by side: the trees plus how to look up each side's leaves. */
interface Pair {
  readonly gold: ParsedAnswer;
  readonly predicted: ParsedAnswer;
}

// `x`, `\theta`, `a_1`, `f(x)`: a left-hand side that only names the answer.
const namePattern = /^(?:[A-Za-z]|\\[a-zA-Z]+)(?:_\{?[A-Za-z0-9]+\}?)?(?:\([^()]*\))?$/;
const isName = (tree: AnswerTree): boolean =>
  tree.kind === "expr"
    ? namePattern.test(tree.latex)
    : tree.kind === "tuple" && tree.items.every(isName);

/** `x = 5` → `5`; `x = 1 + 4 = 5` → `5`; null when the equation is more than a naming. */
const equationValue = (tree: AnswerTree): AnswerTree | null => {
  if (tree.kind !== "relation" || tree.ops.some((op) => op !== "=")) return null;
  const { sides } = tree;
  return sides.length > 2 || isName(sides[0]) ? sides[sides.length - 1] : null;
};

/** Relations with `>`/`>=` turned around, and `=` chains cut to first and last sides. */
const canonicalRelation = (
  tree: Extract<AnswerTree, { kind: "relation" }>,
): { readonly ops: readonly RelationOp[]; readonly sides: readonly AnswerTree[] } => {
  if (tree.ops.every((op) => op === "=") && tree.sides.length > 2) {
    return { ops: ["="], sides: [tree.sides[0], tree.sides[tree.sides.length - 1]] };
  }
  if (tree.ops.length === 1 && (tree.ops[0] === ">" || tree.ops[0] === ">=")) {
    return { ops: [tree.ops[0] === ">" ? "<" : "<="], sides: [tree.sides[1], tree.sides[0]] };
  }
  return tree;
};

/** Samples of lhs − rhs, when both sides are plain expressions. */
const differenceSamples = (
  sides: readonly AnswerTree[],
  answer: ParsedAnswer,
): { readonly samples: readonly Complex[]; readonly hasUnknowns: boolean } | null => {
  const [l, r] = sides;
  if (l.kind !== "expr" || r.kind !== "expr") return null;
  if (answer.leaves.get(l.latex)?.kind !== "math" || answer.leaves.get(r.latex)?.kind !== "math") {
    return null;
  }
  const value = evaluateLatex(`(${l.latex})-(${r.latex})`);
  return value?.samples ? { samples: value.samples, hasUnknowns: value.hasUnknowns } : null;
};

/** Whether da = c·db at every sample for one constant c ≠ 0 (c > 0 when `positive`). */
const proportional = (da: readonly Complex[], db: readonly Complex[], positive: boolean) => {
  const k = db.reduce((best, x, i) => (magnitude(x) > magnitude(db[best]) ? i : best), 0);
  if (magnitude(db[k]) < 1e-12) return da.every((x) => magnitude(x) < 1e-12);
  const c = div(da[k], db[k]);
  if (magnitude(c) < 1e-12 || !Number.isFinite(magnitude(c))) return false;
  if (positive && (Math.abs(c[1]) > 1e-9 * magnitude(c) || c[0] <= 0)) return false;
  return da.every((x, i) => close(x, mul(c, db[i]), 1e-12, 1e-8));
};

const relationsEqual = (
  a: Extract<AnswerTree, { kind: "relation" }>,
  b: Extract<AnswerTree, { kind: "relation" }>,
  pair: Pair,
): boolean => {
  const ra = canonicalRelation(a);
  const rb = canonicalRelation(b);
  if (ra.ops.length !== rb.ops.length || ra.ops.some((op, i) => op !== rb.ops[i])) return false;
  const sidewise = (sides: readonly AnswerTree[]) =>
    sides.every((s, i) => treesEqual(ra.sides[i], s, pair));
  if (sidewise(rb.sides)) return true;
  if (ra.sides.length !== 2) return false;
  const symmetric = ra.ops[0] === "=" || ra.ops[0] === "!=";
  if (symmetric && sidewise([...rb.sides].reverse())) return true;
  // x^2/4 + y^2/3 = 1 ≡ x^2/16 + y^2/12 = 1/4: the differences are proportional.
  const da = differenceSamples(ra.sides, pair.gold);
  const db = differenceSamples(rb.sides, pair.predicted);
  return da !== null && db !== null && (da.hasUnknowns || db.hasUnknowns) &&
    proportional(da.samples, db.samples, !symmetric);
};

const unorderedEqual = (a: readonly AnswerTree[], b: readonly AnswerTree[], pair: Pair) =>
  a.every((x) => b.some((y) => treesEqual(x, y, pair))) &&
  b.every((y) => a.some((x) => treesEqual(x, y, pair)));

const orderedEqual = (a: readonly AnswerTree[], b: readonly AnswerTree[], pair: Pair) =>
  a.length === b.length && a.every((x, i) => treesEqual(x, b[i], pair));

/** `(a, b)` written as a pair may mean the open interval. */
const pairIsOpenInterval = (tuple: AnswerTree, interval: AnswerTree, pair: Pair): boolean =>
  tuple.kind === "tuple" && interval.kind === "interval" && !interval.loClosed &&
  !interval.hiClosed && orderedEqual(tuple.items, [interval.lo, interval.hi], pair);

/** `a` is always a gold subtree, `b` a predicted one. */
const treesEqual = (a: AnswerTree, b: AnswerTree, pair: Pair): boolean => {
  if (a.kind === "relation" && b.kind === "relation") return relationsEqual(a, b, pair);
  if (a.kind === "relation" || b.kind === "relation") {
    const value = equationValue(a.kind === "relation" ? a : b);
    if (value === null) return false;
    return a.kind === "relation" ? treesEqual(value, b, pair) : treesEqual(a, value, pair);
  }
  if (a.kind !== b.kind) {
    return pairIsOpenInterval(a, b, pair) || pairIsOpenInterval(b, a, swap(pair));
  }
  switch (a.kind) {
    case "expr":
      return leavesEqual(
        pair.gold.leaves.get(a.latex),
        pair.predicted.leaves.get((b as typeof a).latex),
      );
    case "tuple":
      return orderedEqual(a.items, (b as typeof a).items, pair);
    case "set":
    case "union":
      return unorderedEqual(a.items, (b as typeof a).items, pair);
    case "interval": {
      const c = b as typeof a;
      return a.loClosed === c.loClosed && a.hiClosed === c.hiClosed &&
        treesEqual(a.lo, c.lo, pair) && treesEqual(a.hi, c.hi, pair);
    }
    case "matrix": {
      const rows = (b as typeof a).rows;
      return a.rows.length === rows.length &&
        a.rows.every((r, i) => orderedEqual(r, rows[i], pair));
    }
  }
};

const swap = (pair: Pair): Pair => ({ gold: pair.predicted, predicted: pair.gold });

/** Equality of two parsed answers. */
export const parsedAnswersEqual = (gold: ParsedAnswer, predicted: ParsedAnswer): boolean => {
  try {
    return treesEqual(gold.tree, predicted.tree, { gold, predicted });
  } catch {
    return false;
  }
};

/**
 * Whether two answers are mathematically equal. Each may be plain text, LaTeX, `$...$`
 * or `\boxed{...}`; an answer that does not parse equals nothing. Never throws.
 */
export const answersEqual = (gold: string, predicted: string): boolean => {
  const g = parseAnswer(gold);
  const p = g && parseAnswer(predicted);
  return g !== null && p !== null && parsedAnswersEqual(g, p);
};
