/**
 * Lexical helpers for short LaTeX answer strings: escapes, brace matching and splitting
 * at nesting depth zero. Callers cap input length, so simple scans are fast enough.
 */

/** True when the character at `i` is preceded by an odd number of backslashes. */
export const isEscaped = (s: string, i: number): boolean => {
  let n = 0; // (indexing, not charCodeAt: see wordIds in text.ts)
  for (let j = i - 1; j >= 0 && s[j] === "\\"; j--) n++;
  return n % 2 === 1;
};

/** Index of the `}` closing the unescaped `{` at `open`, or -1 when it is never closed. */
export const matchBrace = (s: string, open: number): number => {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if ((c !== "{" && c !== "}") || isEscaped(s, i)) continue;
    depth += c === "{" ? 1 : -1;
    if (depth === 0) return i;
  }
  return -1;
};

const nestingCommands: Readonly<Record<string, number>> = {
  "\\begin": 1,
  "\\end": -1,
  "\\langle": 1,
  "\\rangle": -1,
  "\\{": 1,
  "\\}": -1,
};

/** The token starting at `i`: its length and how it changes the nesting depth. */
const tokenAt = (s: string, i: number): { readonly length: number; readonly delta: number } => {
  if (s[i] === "\\") {
    const word = /^\\(?:[a-zA-Z]+|.)/s.exec(s.slice(i, i + 32));
    const text = word ? word[0] : "\\";
    return { length: text.length, delta: nestingCommands[text] ?? 0 };
  }
  const c = s[i];
  const delta = c === "(" || c === "[" || c === "{"
    ? 1
    : c === ")" || c === "]" || c === "}"
    ? -1
    : 0;
  return { length: 1, delta };
};

export interface TopLevelSplit {
  readonly parts: readonly string[];
  readonly separators: readonly string[];
}

/**
 * Splits `s` where the sticky `separator` matches at depth zero (brackets, braces, `\{ \}`,
 * `\langle \rangle`, environments). Null when the brackets do not balance.
 */
export const splitTopLevel = (s: string, separator: RegExp): TopLevelSplit | null => {
  const sticky = new RegExp(separator.source, "y");
  const parts: string[] = [];
  const separators: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length;) {
    if (depth === 0) {
      sticky.lastIndex = i;
      const m = sticky.exec(s);
      if (m && m[0].length > 0) {
        parts.push(s.slice(start, i));
        separators.push(m[0]);
        i += m[0].length;
        start = i;
        continue;
      }
    }
    const token = tokenAt(s, i);
    depth += token.delta;
    if (depth < 0) return null;
    i += token.length;
  }
  if (depth !== 0) return null;
  parts.push(s.slice(start));
  return { parts, separators };
};

/** True when the bracket opened by the first token of `s` closes at its very end. */
export const enclosesWhole = (s: string): boolean => {
  let depth = 0;
  for (let i = 0; i < s.length;) {
    const token = tokenAt(s, i);
    depth += token.delta;
    i += token.length;
    if (depth <= 0) return i === s.length && depth === 0;
  }
  return false;
};

/**
 * Deepest bracket nesting in `s`, or Infinity when its brackets do not balance (a cheap
 * guard before handing text to a parser).
 */
export const nestingDepth = (s: string): number => {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < s.length;) {
    const token = tokenAt(s, i);
    depth += token.delta;
    if (depth < 0) return Infinity;
    max = Math.max(max, depth);
    i += token.length;
  }
  return depth === 0 ? max : Infinity;
};
