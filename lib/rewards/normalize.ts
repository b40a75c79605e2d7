/**
 * Normalizing an extracted answer before it is parsed: strip math delimiters, boxes,
 * sizing and spacing commands, `\text{}` wrappers, units, degree marks and thousands
 * separators, so that notational variants of one value compare equal.
 */
import { lastBoxed, lastMathSpan } from "./extract.ts";
import { matchBrace } from "./latex.ts";

const unitWords = [
  "units?",
  "square",
  "cubic",
  "sq",
  "(?:centi|milli|kilo)?met(?:er|re)s?",
  "inch(?:es)?",
  "feet",
  "foot",
  "yards?",
  "miles?",
  "dollars?",
  "cents?",
  "euros?",
  "degrees?",
  "radians?",
  "hours?",
  "minutes?",
  "seconds?",
  "days?",
  "weeks?",
  "months?",
  "years?",
  "(?:kilo|milli)?grams?",
  "pounds?",
  "ounces?",
  "lit(?:er|re)s?",
  "gallons?",
  "mph",
];
// Short abbreviations are only units inside \text{...}; in math mode they are variables.
const shortUnits = [
  "km",
  "cm",
  "mm",
  "m",
  "ft",
  "in",
  "yd",
  "kg",
  "g",
  "mg",
  "lbs?",
  "oz",
  "s",
  "sec",
  "min",
  "hrs?",
  "h",
  "ml",
  "mL",
  "L",
];
const word = (alternatives: readonly string[]) =>
  new RegExp(`(?<![A-Za-z\\\\])(?:${alternatives.join("|")})(?![A-Za-z])`, "g");
const longUnitPattern = word(unitWords);
const anyUnitPattern = word([...unitWords, ...shortUnits]);

const textCommand =
  /\\(?:text|textbf|textit|textrm|textnormal|textsf|texttt|textup|mathrm|mathbf|mathit|mathsf|mathtt|mbox|operatorname|boldsymbol|bm|hbox)\s*\{/g;

/** Replaces `\text{...}`-like groups by their contents, with unit words removed. */
const unwrapTextCommands = (s: string): string => {
  let out = "";
  let from = 0;
  for (const m of s.matchAll(textCommand)) {
    if (m.index < from) continue; // nested inside a group already copied
    const open = m.index + m[0].length - 1;
    const close = matchBrace(s, open);
    if (close === -1) break;
    const inner = unwrapTextCommands(s.slice(open + 1, close));
    const content = inner.replace(anyUnitPattern, "").trim();
    out += s.slice(from, m.index);
    from = close + 1;
    if (content === "" && inner.trim() !== "") {
      // A pure unit: drop it along with its exponent (cm^2).
      from += /^\s*\^\s*(?:\{\s*\d\s*\}|\d)/.exec(s.slice(from))?.[0].length ?? 0;
    } else out += ` ${content} `;
  }
  return out + s.slice(from);
};

/** Takes the answer out of `$...$`, `\[...\]`, `\boxed{...}` wrappers, repeatedly. */
export const unwrapDelimiters = (answer: string): string => {
  let s = answer.trim();
  for (let i = 0; i < 8; i++) {
    const inner = lastBoxed(s) ?? (/^(?:\$|\\\(|\\\[)/.test(s) ? lastMathSpan(s, true) : null);
    if (inner === null || inner === s) return s;
    s = inner.trim();
  }
  return s;
};

const replacements: readonly (readonly [RegExp, string])[] = [
  [/\\[dtc]frac(?![a-zA-Z])/g, "\\frac"],
  [/\\(?:left|right|[bB]igg?[lr]?)(?![a-zA-Z])\.?/g, ""],
  [/\\(?:displaystyle|textstyle|scriptstyle|limits)(?![a-zA-Z])/g, ""],
  [/\{,\}|(?<!\\)\\[!,]\s*/g, ""], // thousands separators and thin spaces: 7{,}425, 7\,425
  [/(?<!\\)\\(?:quad|qquad|[;: ])|~/g, " "], // (not the `\\ ` of a matrix row break)
  [/\^\s*\{?\s*\\circ\s*\}?|°|\\degree(?![a-zA-Z])/g, ""],
  [/\\\$|\$|€|£/g, ""],
  // Percent is a unit, as for Math-Verify: 25\% equals 25 (and not 0.25).
  [/\\?%|\s*(?<![A-Za-z\\])(?:percent(?:age)?|pct)(?![A-Za-z])/g, ""],
  [/(?<![A-Za-z\\])[kcm]?m[²³]/g, ""], // m², cm³
  [/\u2212/g, "-"],
  [/×/g, "\\times "],
  [/·/g, "\\cdot "],
  [/π/g, "\\pi "],
  [/∞/g, "\\infty "],
  [/≤/g, "\\leq "],
  [/≥/g, "\\geq "],
  [/≠/g, "\\neq "],
  [/^\s*[A-Za-z]\s*\\in(?![a-zA-Z])/, ""], // x \in [0, 1)
  [/(?<![A-Za-z\\])(?:and|or)(?![A-Za-z])/g, ","], // "12 and 13" lists two answers
];

/** One argument of a command: a `{...}` group or a single character; null at the end. */
const argumentAt = (
  s: string,
  i: number,
): { readonly text: string; readonly end: number } | null => {
  while (s[i] === " ") i++;
  if (i >= s.length) return null;
  if (s[i] !== "{") return { text: s[i], end: i + 1 };
  const close = matchBrace(s, i);
  return close === -1 ? null : { text: s.slice(i + 1, close), end: close + 1 };
};

/** `\frac12`, `\frac{270}7`, `\sqrt2` → braced forms, which the engine reads reliably. */
const braceArguments = (s: string): string => {
  let out = "";
  let from = 0;
  for (const m of s.matchAll(/\\(frac|sqrt)(?![a-zA-Z])/g)) {
    if (m.index < from) continue;
    const arity = m[1] === "frac" ? 2 : 1;
    if (arity === 1 && /^\s*\[/.test(s.slice(m.index + m[0].length))) continue; // \sqrt[3]{x}
    const args: string[] = [];
    let end = m.index + m[0].length;
    for (let k = 0; k < arity; k++) {
      const arg = argumentAt(s, end);
      if (arg === null) break;
      args.push(braceArguments(arg.text));
      end = arg.end;
    }
    if (args.length < arity) continue;
    out += s.slice(from, m.index) + m[0] + args.map((a) => `{${a}}`).join("");
    from = end;
  }
  return out + s.slice(from);
};

/** `\approx` reads as `=`, except after an equation it only adds an estimate (dropped). */
const dropApproximation = (s: string): string => {
  const at = s.indexOf("\\approx");
  if (at === -1) return s;
  return s.slice(0, at).includes("=") ? s.slice(0, at) : s.replace(/\\approx/g, "=");
};

/**
 * A whole answer that is one number in a national format, as a plain decimal: thousands
 * separators (`7,425,000`, `2 000`) go, a decimal comma (`3,57`, `0,111`) becomes a point.
 * `41, 275` (a comma and a space) stays a list of two numbers.
 */
const plainNumber = (s: string): string => {
  if (/^-?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$/.test(s)) return s.replace(/,/g, "");
  if (/^-?[1-9]\d{0,2}(?: \d{3})+(?:\.\d+)?$/.test(s)) return s.replace(/ /g, "");
  if (/^-?(?:\d+,\d{2}|0,\d+)$/.test(s)) return s.replace(",", ".");
  return s;
};

/** The canonical text of an answer; "" when nothing is left. */
export const normalizeAnswer = (answer: string): string => {
  let s = unwrapTextCommands(unwrapDelimiters(answer));
  for (const [pattern, by] of replacements) s = s.replace(pattern, by);
  s = s.replace(longUnitPattern, "");
  s = braceArguments(dropApproximation(s)).replace(/\s+/g, " ").trim();
  // Sentence punctuation goes; an ellipsis (`1, 2, 3, ...`) stays part of the answer.
  s = plainNumber(s.replace(/^[\s,;:]+|[\s,;:]+$/g, "").replace(/(?<!\.)\.$/, "").trim());
  return s.replace(/\s*,\s*/g, ",").replace(/([([{])\s+/g, "$1").replace(/\s+([)\]}])/g, "$1");
};
