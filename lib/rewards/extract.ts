/**
 * Finding the final answer in a completion, in Math-Verify's priority order: the last
 * `\boxed{...}` (or `\fbox{...}`), then `<answer>...</answer>`, then "final answer is ...",
 * then the last math span (`$...$`, `$$...$$`, `\(...\)`, `\[...\]`).
 * Every scan is a single linear pass, so megabyte inputs stay fast.
 */
import { ANSWER_CLOSE, ANSWER_OPEN } from "../format_tags.ts";
import { isEscaped } from "./latex.ts";

const nonEmpty = (s: string | undefined): string | null => {
  const t = s?.trim();
  return t ? t : null;
};

/** Index of the `}` closing the `{` at `open` before index `limit`, or -1. */
const closingBrace = (text: string, open: number, limit: number, brace: RegExp): number => {
  brace.lastIndex = open + 1;
  let depth = 1;
  while (brace.test(text) && brace.lastIndex <= limit) {
    const i = brace.lastIndex - 1;
    if (isEscaped(text, i)) continue;
    depth += text[i] === "{" ? 1 : -1;
    if (depth === 0) return i;
  }
  return -1;
};

/**
 * Contents of the last `\boxed{...}` / `\fbox{...}` whose braces balance. Boxes are tried
 * from the end; one that never closes bounds the search for earlier ones (they cannot
 * close after it), so the whole search is linear and usually touches only the tail.
 */
export const lastBoxed = (text: string): string | null => {
  const brace = /[{}]/g;
  let limit = text.length;
  // One backward cursor per name, so each name's search covers the text once in total.
  const previous = (name: string, before: number) =>
    before < 0 ? -1 : text.lastIndexOf(name, before);
  let boxed = previous("\\boxed", text.length);
  let fbox = previous("\\fbox", text.length);
  while (boxed !== -1 || fbox !== -1) {
    const at = Math.max(boxed, fbox);
    let open = at + (at === boxed ? 6 : 5);
    if (at === boxed) boxed = previous("\\boxed", at - 1);
    else fbox = previous("\\fbox", at - 1);
    while (open < limit && /\s/.test(text[open])) open++;
    if (open >= limit || text[open] !== "{") continue;
    const close = closingBrace(text, open, limit, brace);
    if (close === -1) limit = at;
    else {
      const content = nonEmpty(text.slice(open + 1, close));
      if (content !== null) return content;
    }
  }
  return null;
};

/** Contents of the last complete `<answer>...</answer>` block. */
export const answerTag = (text: string): string | null => {
  const close = text.lastIndexOf(ANSWER_CLOSE);
  if (close === -1) return null;
  const open = text.lastIndexOf(ANSWER_OPEN, close);
  return open === -1 ? null : nonEmpty(text.slice(open + ANSWER_OPEN.length, close));
};

/** What follows the last "final answer is" (a math span, else the rest of that line). */
export const finalAnswerIs = (text: string): string | null => {
  const phrase = "final answer is";
  const at = text.toLowerCase().lastIndexOf(phrase);
  if (at === -1) return null;
  const rest = text.slice(at + phrase.length, at + phrase.length + 2000).replace(/^\s*:?\s*/, "");
  const math = /^(?:\$\$|\$|\\\(|\\\[)/.test(rest) ? lastMathSpan(rest, true) : null;
  if (math !== null) return math;
  const line = rest.split("\n")[0].replace(/\s*I hope it is correct.*$/i, "");
  return nonEmpty(line.replace(/[.\s]+$/, ""));
};

const closers: Readonly<Record<string, string>> = {
  "$$": "$$",
  "$": "$",
  "\\(": "\\)",
  "\\[": "\\]",
};

/**
 * Contents of the last (or, with `first`, the first) complete math span. Inline spans
 * (`$`, `\(`) may not cross a line break; display spans may.
 */
export const lastMathSpan = (text: string, first = false): string | null => {
  let found: string | null = null;
  let open = ""; // the delimiter of the span we are in, "" outside math
  let start = 0;
  // The regex jumps between the only characters that matter ($, \, newline); its
  // lastIndex is the scan position, moved past whatever a step consumes.
  const special = /[$\\\n]/g;
  while (special.test(text)) {
    const i = special.lastIndex - 1;
    const c = text[i];
    if (open !== "") {
      const close = closers[open];
      if (c === "\n" && (open === "$" || open === "\\(")) {
        open = "";
      } else if (text.startsWith(close, i)) {
        const content = i === start ? null : nonEmpty(text.slice(start, i));
        special.lastIndex = i + close.length;
        open = "";
        if (content !== null) {
          if (first) return content;
          found = content;
        }
      } else if (c === "\\") special.lastIndex = i + 2; // skip the escaped character (\$)
      continue;
    }
    if (c === "\\") {
      const next = text[i + 1];
      if (next === "(" || next === "[") [open, start] = [`\\${next}`, i + 2];
      special.lastIndex = i + 2;
    } else if (c === "$") {
      open = text[i + 1] === "$" ? "$$" : "$";
      start = i + open.length;
      special.lastIndex = start;
    }
  }
  return found;
};

/** The completion's final answer as LaTeX text, or null when it gives none. */
export const extractAnswer = (text: string): string | null =>
  lastBoxed(text) ?? answerTag(text) ?? finalAnswerIs(text) ?? lastMathSpan(text);
