/**
 * The shape of a normalized answer: sets, tuples, intervals, unions, matrices and
 * relations are recognized here, at the string level; their leaves stay LaTeX
 * expressions for the compute engine.
 */
import { enclosesWhole, splitTopLevel } from "./latex.ts";

/** The relations an answer may state (x = 3, x ≤ 4, ...). */
export type RelationOp = "=" | "!=" | "<" | "<=" | ">" | ">=";

/**
 * An answer's structure: an expression, a tuple/set/union of answers, an interval, or a relation.
 */
export type AnswerTree =
  | { readonly kind: "expr"; readonly latex: string }
  | { readonly kind: "tuple" | "set" | "union"; readonly items: readonly AnswerTree[] }
  | {
    readonly kind: "interval";
    readonly lo: AnswerTree;
    readonly hi: AnswerTree;
    readonly loClosed: boolean;
    readonly hiClosed: boolean;
  }
  | { readonly kind: "matrix"; readonly rows: readonly (readonly AnswerTree[])[] }
  | {
    readonly kind: "relation";
    readonly ops: readonly RelationOp[];
    readonly sides: readonly AnswerTree[];
  };

const maxDepth = 6;

const relationPattern =
  /<=|>=|!=|\\(?:leqslant|geqslant|leq|le|geq|ge|neq|ne|lt|gt)(?![a-zA-Z])|[<>=]/;
const relationOps: Readonly<Record<string, RelationOp>> = {
  "=": "=",
  "<": "<",
  ">": ">",
  "<=": "<=",
  ">=": ">=",
  "!=": "!=",
  "\\le": "<=",
  "\\leq": "<=",
  "\\leqslant": "<=",
  "\\ge": ">=",
  "\\geq": ">=",
  "\\geqslant": ">=",
  "\\ne": "!=",
  "\\neq": "!=",
  "\\lt": "<",
  "\\gt": ">",
};
const matrixPattern = /^\\begin\{([a-zA-Z]*matrix|array)\}(?:\{[^{}]*\})?([\s\S]*)\\end\{\1\}$/;

const leaf = (latex: string): AnswerTree => ({ kind: "expr", latex: latex.trim() });

/** `a \pm b` stands for the two answers a + b and a − b (as in Math-Verify). */
const expandPlusMinus = (s: string): readonly string[] => {
  const split = splitTopLevel(s, /\\pm(?![a-zA-Z])|±/);
  if (split === null || split.parts.length !== 2) return [s];
  const [a, b] = split.parts.map((p) => p.trim());
  return [`${a}+${b}`, `${a}-${b}`];
};

/** The comma-separated parts of `inner`; empty ones (`19, 46, and 82` → `19,46,,82`) dropped. */
const commaParts = (inner: string): string[] | null =>
  splitTopLevel(inner, /,/)?.parts.map((p) => p.trim()).filter((p) => p !== "") ?? null;

const items = (inner: string, depth: number): AnswerTree[] | null =>
  commaParts(inner)?.map((p) => parseStructure(p, depth + 1)) ?? null;

/** Items of an unordered collection, each `\pm` spread into its two answers. */
const setItems = (inner: string, depth: number): AnswerTree[] | null =>
  commaParts(inner)?.flatMap(expandPlusMinus).map((p) => parseStructure(p.trim(), depth + 1)) ??
    null;

const parseMatrix = (body: string, depth: number): AnswerTree | null => {
  const rows = splitTopLevel(body.trim(), /\\\\/)?.parts.filter((r) => r.trim() !== "");
  const cells = rows?.map((r) => splitTopLevel(r, /&/)?.parts);
  if (!cells || cells.some((r) => r === undefined)) return null;
  return {
    kind: "matrix",
    rows: cells.map((r) => r!.map((c) => parseStructure(c.trim(), depth + 1))),
  };
};

/** Bracketed forms: `\{..\}`, `\langle..\rangle`, `(..)`, `[..]`, half-open intervals. */
const parseEnclosed = (s: string, depth: number): AnswerTree | null => {
  if (!enclosesWhole(s)) return null;
  if (s.startsWith("\\{")) {
    const set = setItems(s.slice(2, -2), depth);
    return set && { kind: "set", items: set };
  }
  if (s.startsWith("\\langle")) {
    const tuple = items(s.slice("\\langle".length, -"\\rangle".length), depth);
    return tuple && { kind: "tuple", items: tuple };
  }
  const open = s[0];
  const close = s[s.length - 1];
  if (open === "{") return parseStructure(s.slice(1, -1).trim(), depth + 1);
  if ((open !== "(" && open !== "[") || (close !== ")" && close !== "]")) return null;
  const parts = items(s.slice(1, -1), depth);
  if (parts === null || parts.length === 0) return null;
  if (parts.length === 1) return parts[0];
  if (parts.length === 2 && (open === "[" || close === "]")) {
    return {
      kind: "interval",
      lo: parts[0],
      hi: parts[1],
      loClosed: open === "[",
      hiClosed: close === "]",
    };
  }
  return { kind: "tuple", items: parts };
};

/** Reads the structure of a normalized answer; anything unrecognized is one expression. */
export const parseStructure = (s: string, depth = 0): AnswerTree => {
  if (depth > maxDepth) return leaf(s);
  const union = splitTopLevel(s, /\\cup(?![a-zA-Z])|∪/);
  if (union && union.parts.length > 1) {
    return { kind: "union", items: union.parts.map((p) => parseStructure(p.trim(), depth + 1)) };
  }
  // `a=3,b=1; a=5,b=1`: semicolons separate answers that may themselves be lists.
  const answers = splitTopLevel(s, /;/);
  if (answers && answers.parts.length > 1 && answers.parts.every((p) => p.trim() !== "")) {
    return { kind: "set", items: answers.parts.map((p) => parseStructure(p.trim(), depth + 1)) };
  }
  const list = setItems(s, depth);
  if (list && list.length > 1) return { kind: "set", items: list };
  const relation = splitTopLevel(s, relationPattern);
  if (relation && relation.parts.length > 1 && relation.parts.every((p) => p.trim() !== "")) {
    return {
      kind: "relation",
      ops: relation.separators.map((op) => relationOps[op]),
      sides: relation.parts.map((p) => parseStructure(p.trim(), depth + 1)),
    };
  }
  const matrix = matrixPattern.exec(s);
  if (matrix) return parseMatrix(matrix[2], depth) ?? leaf(s);
  return parseEnclosed(s, depth) ?? leaf(s);
};

/** Every expression leaf of a tree, in order. */
export const leaves = (tree: AnswerTree): readonly string[] => {
  switch (tree.kind) {
    case "expr":
      return [tree.latex];
    case "interval":
      return [...leaves(tree.lo), ...leaves(tree.hi)];
    case "matrix":
      return tree.rows.flatMap((r) => r.flatMap(leaves));
    case "relation":
      return tree.sides.flatMap(leaves);
    default:
      return tree.items.flatMap(leaves);
  }
};
