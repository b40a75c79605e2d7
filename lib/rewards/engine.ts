/**
 * The one place that talks to `@cortex-js/compute-engine`: LaTeX expression in, a small
 * plain value out (a structural key plus numeric samples). The engine is created lazily
 * once; every call is guarded (size caps, an operator allowlist before numeric
 * evaluation, try/catch) because some inputs make the engine run for minutes.
 */
import { ComputeEngine } from "@cortex-js/compute-engine";
import { nestingDepth } from "./latex.ts";

/** A complex number as [re, im]. */
export type Complex = readonly [number, number];

export interface ExprValue {
  /** Canonical MathJSON: equal keys mean structurally equal expressions. */
  readonly key: string;
  /**
   * Values at fixed sample points (each free variable gets a fixed value per point),
   * or null when the expression cannot be evaluated to numbers.
   */
  readonly samples: readonly Complex[] | null;
  /** Whether the expression has free variables (so samples differ per point). */
  readonly hasUnknowns: boolean;
}

// Measured: parse time grows superlinearly with length and letter count (24 letters in a
// row ~12 ms, 200 ~100 ms) and exponentially with nested square brackets (7 levels ~60 ms),
// so only small expressions reach the engine.
const maxLatexLength = 120;
const maxSymbols = 16; // letters plus commands
const maxNesting = 6;
const maxSquareBracketNesting = 2;
const maxUnknowns = 6;
const samplePointCount = 3;

let engine: ComputeEngine | undefined;
const computeEngine = (): ComputeEngine => (engine ??= new ComputeEngine({ precision: "machine" }));

// Operators whose machine-precision evaluation is cheap and total.
const numericOperators = new Set([
  "Add",
  "Subtract",
  "Negate",
  "Multiply",
  "Divide",
  "Rational",
  "Power",
  "Sqrt",
  "Root",
  "Square",
  "Exp",
  "Ln",
  "Log",
  "Lb",
  "Lg",
  "Abs",
  "Floor",
  "Ceil",
  "Round",
  "Max",
  "Min",
  "Sin",
  "Cos",
  "Tan",
  "Cot",
  "Sec",
  "Csc",
  "Arcsin",
  "Arccos",
  "Arctan",
  "Arccot",
  "Arcsec",
  "Arccsc",
  "Sinh",
  "Cosh",
  "Tanh",
  "Coth",
  "Sech",
  "Csch",
  "Arsinh",
  "Arcosh",
  "Artanh",
  "Complex",
  "Delimiter",
  "Sign",
]);
const maxFactorialArgument = 170; // the largest n with a finite float64 n!

/** Whether evaluating this MathJSON numerically is known to be cheap. */
const isCheapToEvaluate = (json: unknown): boolean => {
  if (!Array.isArray(json)) return typeof json !== "object" || json === null || "num" in json;
  const [op, ...args] = json;
  if (op === "Factorial") {
    return typeof args[0] === "number" && Number.isInteger(args[0]) &&
      Math.abs(args[0]) <= maxFactorialArgument;
  }
  return numericOperators.has(op) && args.every(isCheapToEvaluate);
};

/** A deterministic, "generic" value for a variable at a sample point (FNV-1a hash). */
const sampleValue = (name: string, point: number): number => {
  let h = 0x811c9dc5;
  for (const c of `${name}#${point}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  return 0.5 + ((h >>> 0) % 10007) / 10007 * 1.5;
};

// CE reads x_1 as "element 1 of x"; an answer means a variable named x_1.
const subscriptedVariables = /(?<![A-Za-z\\])([A-Za-z])_(?:\{([A-Za-z0-9]+)\}|([A-Za-z0-9]))/g;

const isTooComplex = (latex: string): boolean =>
  latex.length > maxLatexLength ||
  /[^\x20-\x7e]/.test(latex) || // the engine's error recovery is slow on stray Unicode
  (latex.replace(/\\[a-zA-Z]+/g, "_").match(/[A-Za-z_]/g)?.length ?? 0) > maxSymbols ||
  nestingDepth(latex) > maxNesting ||
  nestingDepth(latex.replace(/[^[\]]/g, "")) > maxSquareBracketNesting;

type Boxed = NonNullable<ReturnType<ComputeEngine["parse"]>>;

const toComplex = (value: Boxed): Complex | null => {
  const re = value.re;
  const im = value.im;
  return Number.isNaN(re) || Number.isNaN(im) ? null : [re, im];
};

const evaluateSamples = (expr: Boxed, unknowns: readonly string[]): Complex[] | null => {
  if (unknowns.length === 0) {
    const value = toComplex(expr.N());
    return value && Array.from({ length: samplePointCount }, () => value);
  }
  const samples: Complex[] = [];
  for (let point = 0; point < samplePointCount; point++) {
    const substitution = Object.fromEntries(unknowns.map((v) => [v, sampleValue(v, point)]));
    const value = toComplex(expr.subs(substitution).N());
    if (value === null) return null;
    samples.push(value);
  }
  return samples;
};

/**
 * Parses and evaluates one LaTeX expression; null when the engine rejects it (or it is
 * too large to parse quickly). Never throws.
 */
export const evaluateLatex = (latex: string): ExprValue | null => {
  if (latex.trim() === "" || isTooComplex(latex)) return null;
  const ce = computeEngine();
  ce.pushScope(); // symbols the parse declares must not leak into later parses
  try {
    const expr = ce.parse(latex.replace(subscriptedVariables, "\\operatorname{$1_$2$3}"));
    if (!expr.isValid) return null;
    const json = expr.json;
    const key = JSON.stringify(json);
    const unknowns = expr.unknowns;
    const numeric = isCheapToEvaluate(json) && unknowns.length <= maxUnknowns;
    return {
      key,
      samples: numeric ? evaluateSamples(expr, unknowns) : null,
      hasUnknowns: unknowns.length > 0,
    };
  } catch {
    return null;
  } finally {
    ce.popScope();
  }
};
