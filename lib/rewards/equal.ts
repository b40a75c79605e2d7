/**
 * Mathematical equality of two answers, in the manner of Math-Verify: structures compare
 * as structures (sets unordered, tuples ordered, intervals with their closedness), numbers
 * exactly (bigint rationals) unless one is a decimal, which is compared after rounding both
 * to the less precise side; other expressions compare by value (numerically at fixed sample
 * points, so symbolic identities hold). A predicted equation is read by its right side
 * (`x = 5` matches `5`), a gold inequality as the set it describes when the prediction is one.
 */
import { evaluateLatex, type ExprValue } from "./engine.ts";
import { type Complex, div, mul, sub } from "./mathjson.ts";
import { exactValue, type Rational, rationalsEqual, roundRational } from "./exact.ts";
import { normalizeAnswer, unwrapDelimiters } from "./normalize.ts";
import { type AnswerTree, leaves, parseStructure, type RelationOp } from "./structure.ts";

/** One expression leaf, evaluated. */
export type Leaf =
  | { readonly kind: "word"; readonly text: string }
  | {
    readonly kind: "math";
    readonly text: string;
    /** The engine's view; null for exact numbers, which never reach the engine. */
    readonly value: ExprValue | null;
    /** The exact value of a purely numeric leaf. */
    readonly exact: Rational | null;
    /** How many decimals a decimal literal (`0.6667`) has; null for anything else. */
    readonly decimals: number | null;
  };

/** An answer parsed once for many comparisons: its structure, set reading and evaluated leaves. */
export interface ParsedAnswer {
  /** The answer's structure (expressions, tuples, sets, intervals, relations). */
  readonly tree: AnswerTree;
  /** For a relation in one unknown (`-3 \le t \le 4`), the set it describes. */
  readonly asSet: AnswerTree | null;
  /** Each distinct leaf's evaluation; null where the engine could not parse it. */
  readonly leaves: ReadonlyMap<string, Leaf | null>;
}

// Caps that bound the work of one answer, so no input can stall a training step: at most 64
// leaves and 600 characters of them, of which at most 8 reach the compute engine (each of
// those is itself capped in size: a few ms at most). Deterministic, unlike a wall-clock
// deadline, which would score the same answer differently on a busy machine.
const maxAnswerLength = 1000;
const maxLeaves = 64; // a list of eight 4-tuples has 32
const maxLeafCharacters = 600;
const maxEngineLeaves = 8;
// Math-Verify's default float_rounding.
const floatRounding = 6;

const decimalLiteral = /^-?(\d*)\.(\d+)$/;

const evaluateLeaf = (latex: string): Leaf | null => {
  if (/^[A-Za-z ]*[A-Za-z]{3}[A-Za-z ]*$/.test(latex)) {
    // Three or more words is prose, not an answer; fewer is a textual answer ("Evelyn").
    return latex.split(" ").length >= 3 ? null : { kind: "word", text: latex.toLowerCase() };
  }
  const text = latex.replace(/\s+/g, "");
  const decimals = decimalLiteral.exec(text)?.[2].length ?? null;
  const exact = exactValue(latex);
  if (exact !== null) return { kind: "math", text, value: null, exact, decimals };
  const value = evaluateLatex(latex);
  return value && { kind: "math", text, value, exact: null, decimals };
};

/** `\text{The triangle is isosceles}`: a whole answer in words is compared as words. */
const textAnswer = (answer: string): Leaf | null => {
  const m =
    /^\\(?:text|textbf|textrm|textnormal|mathrm)\s*\{\s*([A-Za-z][A-Za-z,.'-]* [A-Za-z ,.'-]*?)[\s.]*\}$/
      .exec(unwrapDelimiters(answer));
  return m && { kind: "word", text: m[1].replace(/\s+/g, " ").toLowerCase() };
};

/** Normalizes and parses an answer; null when nothing parseable is left. Never throws. */
export const parseAnswer = (answer: string): ParsedAnswer | null => {
  if (answer.length > maxAnswerLength) return null;
  const words = textAnswer(answer);
  if (words !== null) {
    const tree: AnswerTree = { kind: "expr", latex: words.text };
    return { tree, asSet: null, leaves: new Map([[words.text, words]]) };
  }
  const normalized = normalizeAnswer(answer);
  if (normalized === "") return null;
  const tree = parseStructure(normalized);
  const asSet = relationAsSet(tree);
  const own = leaves(tree);
  const characters = own.reduce((n, t) => n + t.length, 0);
  if (own.length > maxLeaves || characters > maxLeafCharacters) return null;
  const texts = asSet ? [...own, ...leaves(asSet)] : own;
  const evaluated = new Map<string, Leaf | null>();
  let engineLeaves = 0;
  for (const text of texts) {
    if (evaluated.has(text)) continue;
    const leaf = evaluateLeaf(text);
    const viaEngine = leaf === null || (leaf.kind === "math" && leaf.exact === null);
    if (viaEngine && ++engineLeaves > maxEngineLeaves) return null;
    evaluated.set(text, leaf);
  }
  return { tree, asSet, leaves: evaluated };
};

/** True when every leaf parsed: the test a gold answer must pass to be scorable. */
export const isFullyParsed = (answer: ParsedAnswer): boolean =>
  leaves(answer.tree).every((t) => answer.leaves.get(t) !== null);

const magnitude = ([re, im]: Complex): number => Math.hypot(re, im);

/** Closeness for values the engine computed (machine precision). */
const close = (x: Complex, y: Complex, absolute: number, relative: number): boolean => {
  if (x[0] === y[0] && x[1] === y[1]) return true; // also equal infinities
  if (![...x, ...y].every(Number.isFinite)) return false;
  const d = magnitude(sub(x, y));
  return d <= absolute || d <= relative * Math.max(magnitude(x), magnitude(y));
};

const toNumber = (r: Rational): number => Number(r.num) / Number(r.den);

type MathLeaf = Extract<Leaf, { kind: "math" }>;

/** Samples of a leaf: the engine's, or the exact value's at every point. */
const samplesOf = (leaf: MathLeaf): readonly Complex[] | null => {
  if (leaf.value !== null) return leaf.value.samples;
  const x = leaf.exact && toNumber(leaf.exact);
  return x !== null && Number.isFinite(x) ? [[x, 0], [x, 0], [x, 0]] : null;
};

const roundTo = (x: number, digits: number) => {
  const scale = 10 ** digits;
  return Math.sign(x) * Math.round(Math.abs(x) * scale) / scale;
};

/**
 * Math-Verify's float rule: when a decimal literal is involved, both sides are rounded to
 * the fewer of its decimals and 6 (so 2/3 equals 0.6667, and 0.666666 does not).
 */
const equalAsDecimals = (a: MathLeaf, b: MathLeaf): boolean | null => {
  if (a.decimals === null && b.decimals === null) return null;
  const digits = Math.min(floatRounding, a.decimals ?? Infinity, b.decimals ?? Infinity);
  if (a.exact && b.exact) {
    return rationalsEqual(roundRational(a.exact, digits), roundRational(b.exact, digits));
  }
  const sa = samplesOf(a);
  const sb = samplesOf(b);
  if (!sa || !sb || a.value?.hasUnknowns || b.value?.hasUnknowns) return false;
  const [x, y] = [sa[0], sb[0]];
  const tolerance = 1e-9 * Math.max(1, magnitude(x));
  return Math.abs(roundTo(x[0], digits) - roundTo(y[0], digits)) <= tolerance &&
    Math.abs(roundTo(x[1], digits) - roundTo(y[1], digits)) <= tolerance;
};

const mathLeavesEqual = (a: MathLeaf, b: MathLeaf): boolean => {
  if (a.text === b.text) return true;
  const decimal = equalAsDecimals(a, b);
  if (decimal !== null) return decimal;
  if (a.exact && b.exact) return rationalsEqual(a.exact, b.exact);
  if (a.value && b.value && a.value.key === b.value.key) return true;
  const sa = samplesOf(a);
  const sb = samplesOf(b);
  if (sa === null || sb === null) return false;
  const unknowns = a.value?.hasUnknowns || b.value?.hasUnknowns;
  return sa.every((x, i) => close(x, sb[i], 1e-12, unknowns ? 1e-9 : 1e-11));
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

type Relation = Extract<AnswerTree, { kind: "relation" }>;

const isEquation = (tree: AnswerTree): tree is Relation =>
  tree.kind === "relation" && tree.ops.every((op) => op === "=");

/**
 * A left-hand side made of symbols only (`AB`, `\frac{NO}{BO}`, `V_1:V_2`, `|PQ|`), as
 * Math-Verify's `is_expr_of_only_symbols`: letters, no numbers outside subscripts.
 */
const isSymbolsOnly = (tree: AnswerTree): boolean => {
  if (tree.kind !== "expr") return false;
  const bare = tree.latex.replace(/_(?:\{[^{}]*\}|[A-Za-z0-9])/g, "")
    .replace(/\\(?:frac|dfrac|cdot|left|right|overline|mathrm|text)(?![a-zA-Z])/g, "");
  return /[A-Za-z]/.test(bare) && !/\d/.test(bare);
};

/** `x = 5`, `(p, q) = (1, 2)`, `AB = 4`, `x = 1 + 4 = 5`: an equation naming its value. */
const isAssignment = (tree: AnswerTree): tree is Relation =>
  isEquation(tree) && (isName(tree.sides[0]) || isSymbolsOnly(tree.sides[0]));

const lastSide = (tree: Relation): AnswerTree => tree.sides[tree.sides.length - 1];

// A bound of an interval the relation leaves open.
const infinity: AnswerTree = { kind: "expr", latex: "\\infty" };
const minusInfinity: AnswerTree = { kind: "expr", latex: "-\\infty" };
const negated = (tree: AnswerTree): AnswerTree =>
  tree.kind === "expr" ? { kind: "expr", latex: `-(${tree.latex})` } : tree;

const lower = new Set<RelationOp>(["<", "<="]);
const upper = new Set<RelationOp>([">", ">="]);
const isBound = (tree: AnswerTree) => tree.kind === "expr" && !isName(tree);
// The quantity a relation bounds: a name, `g(x)`, or `|z|` (whose set is symmetric).
const isUnknown = (tree: AnswerTree) =>
  tree.kind === "expr" && (isName(tree) || /^\|[^|]+\|$/.test(tree.latex));

/**
 * The set a relation in one unknown describes: `-3 \le t \le 4` → [-3, 4], `x < 3` →
 * (-∞, 3), `1 < |z| < 3` → (-3, -1) ∪ (1, 3). Null for anything else.
 */
export const relationAsSet = (tree: AnswerTree): AnswerTree | null => {
  if (tree.kind !== "relation" || tree.ops.includes("=") || tree.ops.includes("!=")) return null;
  const ascending = tree.ops.every((op) => lower.has(op));
  if (!ascending && !tree.ops.every((op) => upper.has(op))) return null;
  // Written the ascending way round: lo < x < hi, x < hi, lo < x.
  const sides = ascending ? tree.sides : [...tree.sides].reverse();
  const ops = ascending ? tree.ops : [...tree.ops].reverse();
  const closed = ops.map((op) => op.endsWith("="));
  let interval: Extract<AnswerTree, { kind: "interval" }>;
  if (sides.length === 3 && isBound(sides[0]) && isUnknown(sides[1]) && isBound(sides[2])) {
    interval = {
      kind: "interval",
      lo: sides[0],
      hi: sides[2],
      loClosed: closed[0],
      hiClosed: closed[1],
    };
  } else if (sides.length === 2 && isUnknown(sides[0]) && isBound(sides[1])) {
    interval = {
      kind: "interval",
      lo: minusInfinity,
      hi: sides[1],
      loClosed: false,
      hiClosed: closed[0],
    };
  } else if (sides.length === 2 && isBound(sides[0]) && isUnknown(sides[1])) {
    interval = {
      kind: "interval",
      lo: sides[0],
      hi: infinity,
      loClosed: closed[0],
      hiClosed: false,
    };
  } else return null;
  const unknown = sides.find(isUnknown)!;
  if (unknown.kind !== "expr" || !unknown.latex.startsWith("|") || sides.length !== 3) {
    return interval;
  }
  const mirrored: AnswerTree = {
    kind: "interval",
    lo: negated(interval.hi),
    hi: negated(interval.lo),
    loClosed: interval.hiClosed,
    hiClosed: interval.loClosed,
  };
  return { kind: "union", items: [mirrored, interval] };
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

const isCollection = (tree: AnswerTree) => tree.kind === "tuple" || tree.kind === "set";

/** `(a, b)` written as a pair or a list may mean the open interval. */
const pairIsOpenInterval = (pairLike: AnswerTree, interval: AnswerTree, pair: Pair): boolean =>
  isCollection(pairLike) && interval.kind === "interval" && !interval.loClosed &&
  !interval.hiClosed &&
  orderedEqual(
    (pairLike as { items: readonly AnswerTree[] }).items,
    [interval.lo, interval.hi],
    pair,
  );

// `(2, 5)` is also the open interval, as Math-Verify reads it.
const isSetLike = (tree: AnswerTree) =>
  tree.kind === "interval" || tree.kind === "union" || tree.kind === "set" ||
  (tree.kind === "tuple" && tree.items.length === 2);

/**
 * `a` is always a gold subtree, `b` a predicted one. The asymmetric rules are Math-Verify's:
 * a predicted equation is read by its right side unless the gold is an equation too; a gold
 * assignment by its value unless the prediction is an equation.
 */
const treesEqual = (a: AnswerTree, b: AnswerTree, pair: Pair): boolean => {
  if (isEquation(b) && !isEquation(a)) return treesEqual(a, lastSide(b), pair);
  if (isAssignment(a) && b.kind !== "relation") return treesEqual(lastSide(a), b, pair);
  if (a.kind === "relation" && b.kind === "relation") return relationsEqual(a, b, pair);
  if (a.kind === "relation") {
    const set = isSetLike(b) ? relationAsSet(a) : null;
    return set !== null && treesEqual(set, b, pair);
  }
  if (b.kind === "relation") return false;
  if (a.kind !== b.kind) {
    // A gold tuple against a predicted list: the list in the order written.
    if (isCollection(a) && isCollection(b)) {
      return orderedEqual(
        (a as { items: readonly AnswerTree[] }).items,
        (b as { items: readonly AnswerTree[] }).items,
        pair,
      );
    }
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
