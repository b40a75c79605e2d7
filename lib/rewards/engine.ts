/**
 * The one place that talks to `@cortex-js/compute-engine`: LaTeX expression in, a small
 * plain value out (a structural key plus numeric samples). The engine is created lazily
 * once and only parses; values come from our MathJSON interpreter (mathjson.ts), which is
 * cheap and total. Every parse is guarded (size caps, no big operators, try/catch) because
 * some inputs make the parser run for seconds, and whatever the engine prints is muted.
 */
import { ComputeEngine } from "@cortex-js/compute-engine";
import { nestingDepth } from "./latex.ts";
import { type Complex, evaluateJson, unknownsOf } from "./mathjson.ts";

export type { Complex } from "./mathjson.ts";

/** A LaTeX expression as the compute engine sees it: a canonical key and sampled values. */
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
// row ~12 ms, 200 ~100 ms) and exponentially with nested square brackets (7 levels ~60 ms);
// big operators with symbolic bounds (`\sum_{j=1}^{n} i` inside a fraction) took seconds
// in 0.27 and still cost tens of ms. Only small expressions without them reach the engine.
const maxLatexLength = 100;
const maxSymbols = 16; // letters plus commands
const maxNesting = 6;
const maxSquareBracketNesting = 2;
const maxUnknowns = 6;
const samplePointCount = 3;
const bigOperators =
  /\\(?:sum|prod|int|iint|iiint|oint|lim|limsup|liminf|bigcup|bigcap|coprod|binom|dbinom|tbinom|choose|log_|operatorname\s*\{\s*(?:lim|sum))/;

// The engine loads parts of its library on first use (an unknown command first costs ~300 ms),
// so it parses one input of each kind when it is created: the start-up cost is paid once
// and no later call pays it.
const warmUpInputs = [
  "x^2+\\sin(x)-\\log(2)",
  "\\frac{\\sqrt{3}}{4}\\pi",
  "(1,2)",
  "\\{1,2\\}",
  "[0,1)",
  "\\begin{pmatrix}1\\\\2\\end{pmatrix}",
  "\\text{a}",
  "f(x_1)",
  "3!+6-5i",
  "\\infty",
  "\\pmi+",
  "a]}{",
  "x:y",
  "|x|",
];

let engine: ComputeEngine | undefined;
const computeEngine = (): ComputeEngine => {
  if (engine === undefined) {
    engine = new ComputeEngine({ precision: "machine" });
    for (const latex of warmUpInputs) parseWith(engine, latex);
  }
  return engine;
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
  bigOperators.test(latex) ||
  (latex.replace(/\\[a-zA-Z]+/g, "_").match(/[A-Za-z_]/g)?.length ?? 0) > maxSymbols ||
  nestingDepth(latex) > maxNesting ||
  nestingDepth(latex.replace(/[^[\]]/g, "")) > maxSquareBracketNesting;

// The engine reports some failures with console.error ("error canonicalizing `Sum`", issue
// #17); a reward never writes to the console, so a parse runs with the console silenced.
const consoleMethods = ["log", "info", "warn", "error", "debug", "trace"] as const;
const silently = <T>(f: () => T): T => {
  const saved = consoleMethods.map((name) => console[name]);
  for (const name of consoleMethods) console[name] = () => {};
  try {
    return f();
  } finally {
    consoleMethods.forEach((name, i) => (console[name] = saved[i]));
  }
};

/** The engine's MathJSON for `latex`, or null when it is not a valid expression. */
const parseWith = (ce: ComputeEngine, latex: string): unknown => {
  ce.pushScope(); // symbols the parse declares must not leak into later parses
  try {
    const expr = ce.parse(latex.replace(subscriptedVariables, "\\operatorname{$1_$2$3}"));
    return expr?.isValid ? expr.json : null; // (nullable in some typings of parse)
  } finally {
    ce.popScope();
  }
};

const evaluateSamples = (json: unknown, unknowns: readonly string[]): Complex[] | null => {
  const samples: Complex[] = [];
  for (let point = 0; point < samplePointCount; point++) {
    const value = evaluateJson(json, new Map(unknowns.map((v) => [v, sampleValue(v, point)])));
    if (value === null) return null;
    samples.push(value);
  }
  return samples;
};

/**
 * Parses and evaluates one LaTeX expression; null when the engine rejects it (or it is
 * too large to parse quickly). Never throws, never prints.
 */
export const evaluateLatex = (latex: string): ExprValue | null => {
  if (latex.trim() === "" || isTooComplex(latex)) return null;
  try {
    const json = silently(() => parseWith(computeEngine(), latex));
    if (json === null) return null;
    const unknowns = [...unknownsOf(json)];
    return {
      key: JSON.stringify(json),
      samples: unknowns.length <= maxUnknowns ? evaluateSamples(json, unknowns) : null,
      hasUnknowns: unknowns.length > 0,
    };
  } catch {
    return null;
  }
};
