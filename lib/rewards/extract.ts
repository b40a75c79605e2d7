/**
 * Finding the final answer in a completion, in Math-Verify's priority order: the last
 * `\boxed{...}` (or `\fbox{...}`, with the boxes right before it), then
 * `<answer>...</answer>`, then "final answer ..." / "answer is ...", then the last math span
 * (`$...$`, `$$...$$`, `\(...\)`, `\[...\]`), then the last number in plain text.
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

/** Where one `\boxed{...}` / `\fbox{...}` sits: its start, its closing brace, its content. */
interface Box {
  readonly start: number;
  readonly close: number;
  readonly content: string | null;
}

/**
 * The boxes of `text` from the last backwards, lazily: each step finds the previous box whose
 * braces balance. A box that never closes bounds the search for earlier ones (they cannot
 * close after it), so the whole walk is linear and usually touches only the tail.
 */
function* boxesBackwards(text: string): Generator<Box> {
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
      yield { start: at, close, content: nonEmpty(text.slice(open + 1, close)) };
      limit = at;
    }
  }
}

/** Contents of the last `\boxed{...}` / `\fbox{...}` whose braces balance and are not empty. */
export const lastBoxed = (text: string): string | null => {
  for (const box of boxesBackwards(text)) if (box.content !== null) return box.content;
  return null;
};

// Boxes give one answer together when a few words at most stand between them, inside one
// math block (`\boxed{1}, \boxed{2}`, `\boxed{(3, 3)} \text{ for part (a) and } \boxed{(1, 1)}`,
// `\boxed{1} papers and \boxed{2}`), not across `$$\boxed{20}$$ \boxed{143}` or a sentence.
const maxWordsBetweenBoxes = 4;
const maxGapBetweenBoxes = 80;
const boxesJoin = (gap: string): boolean =>
  gap.length <= maxGapBetweenBoxes && !gap.includes("$") &&
  (gap.replace(/\\[a-zA-Z]+/g, " ").match(/[A-Za-z]+/g)?.length ?? 0) <= maxWordsBetweenBoxes;
// Math spans give one answer together when only "and", "or" or commas divide them.
const spanSeparator = /^(?:\s|,|;|\b(?:and|or)\b)*$/;
const maxBoxes = 16;

/**
 * The last box together with the boxes just before it that join it (Math-Verify reads
 * `\boxed{1}, \boxed{2}` as the set {1, 2}), joined by commas.
 */
export const lastBoxes = (text: string): string | null => {
  const contents: string[] = [];
  let next: Box | null = null;
  for (const box of boxesBackwards(text)) {
    if (next !== null && !boxesJoin(text.slice(box.close + 1, next.start))) break;
    if (box.content === null) {
      if (next === null) continue; // a trailing empty box is skipped, as lastBoxed does
      break;
    }
    contents.unshift(box.content);
    next = box;
    if (contents.length === maxBoxes) break;
  }
  return contents.length === 0 ? null : contents.join(", ");
};

/** Contents of the last complete `<answer>...</answer>` block. */
export const answerTag = (text: string): string | null => {
  const close = text.lastIndexOf(ANSWER_CLOSE);
  if (close === -1) return null;
  const open = text.lastIndexOf(ANSWER_OPEN, close);
  return open === -1 ? null : nonEmpty(text.slice(open + ANSWER_OPEN.length, close));
};

// What ends a final-answer line: the model's sign-off or a chat-template token.
const trailingHope = /\s*(?:I hope it is correct|<\|[a-z_]+\|>).*$/is;

/**
 * The answer in a phrase: what follows the last "final answer" (`Final Answer: The final
 * answer is $3$`, `Final answer: the smallest $k$ is 12.`) or, failing that, the last
 * "answer is" — a math span if one starts there, else the rest of the line, cut after its
 * last " is " (so "the volume of $V$ is 120" gives 120).
 */
export const finalAnswerIs = (text: string): string | null => {
  const lower = text.toLowerCase();
  const final = lower.lastIndexOf("final answer");
  const phrase = final !== -1 ? "final answer" : "answer is";
  const at = final !== -1 ? final : lower.lastIndexOf(phrase);
  if (at === -1) return null;
  const rest = text.slice(at + phrase.length, at + phrase.length + 2000)
    .replace(/^\s*(?:is\b)?\s*:?\s*(?:the final answer is\b\s*:?)?\s*/i, "");
  const math = /^(?:\$\$|\$|\\\(|\\\[)/.test(rest) ? lastMathSpan(rest, true) : null;
  if (math !== null) return math;
  const line = rest.split("\n")[0].replace(trailingHope, "");
  const is = line.toLowerCase().lastIndexOf(" is ");
  const tail = is === -1 ? line : line.slice(is + 4);
  const answer = nonEmpty(tail.replace(/[.\s]+$/, ""));
  if (answer === null) return null;
  // A short answer stands as it is; in a longer sentence, its math or its last number.
  const words = answer.match(/[A-Za-z]{2,}/g)?.length ?? 0;
  return lastMathSpan(answer) ?? (words <= 3 ? answer : lastPlainNumber(answer));
};

const closers: Readonly<Record<string, string>> = {
  "$$": "$$",
  "$": "$",
  "\\(": "\\)",
  "\\[": "\\]",
};

/** One complete math span: where its opening delimiter starts, where its closer ends. */
interface Span {
  readonly open: number;
  readonly end: number;
  readonly content: string;
}

/**
 * Calls `visit` on each non-empty complete math span in order until it returns true.
 * Inline spans (`$`, `\(`) may not cross a line break; display spans may.
 */
const scanMathSpans = (text: string, visit: (span: Span) => boolean): void => {
  let open = ""; // the delimiter of the span we are in, "" outside math
  let openAt = 0;
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
        if (content !== null && visit({ open: openAt, end: i + close.length, content })) return;
      } else if (c === "\\") special.lastIndex = i + 2; // skip the escaped character (\$)
      continue;
    }
    if (c === "\\") {
      const next = text[i + 1];
      if (next === "(" || next === "[") [open, openAt, start] = [`\\${next}`, i, i + 2];
      special.lastIndex = i + 2;
    } else if (c === "$") {
      open = text[i + 1] === "$" ? "$$" : "$";
      openAt = i;
      start = i + open.length;
      special.lastIndex = start;
    }
  }
};

/** Contents of the last (or, with `first`, the first) complete math span. */
export const lastMathSpan = (text: string, first = false): string | null => {
  let found: string | null = null;
  scanMathSpans(text, (span) => {
    found = span.content;
    return first;
  });
  return found;
};

/**
 * The last math span together with the spans just before it that only separators divide
 * from it (`$1$ and $2$ and $3$`, `$21, 16$ or $11$`), joined by commas.
 */
export const lastMathSpans = (text: string): string | null => lastSpanGroup(text)?.content ?? null;

/** The last group of math spans (see lastMathSpans) and where its last span ends. */
const lastSpanGroup = (text: string): { readonly content: string; readonly end: number } | null => {
  let group: Span[] = [];
  scanMathSpans(text, (span) => {
    const previous = group[group.length - 1];
    const joined = previous !== undefined && group.length < maxBoxes &&
      spanSeparator.test(text.slice(previous.end, span.open));
    group = joined ? [...group, span] : [span];
    return false;
  });
  if (group.length === 0) return null;
  return {
    content: group.map((span) => span.content).join(", "),
    end: group[group.length - 1].end,
  };
};

// A number in running text: `1,000.99`, `1 000`, `4,15`, `-3`, `.4`, `2/3`.
const plainNumber =
  /(?<![\w.])-?(?:\d{1,3}(?:(?:,| )\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?|\.\d+)(?:\/\d+)?(?!\d)/g;
const maxPlainNumberScan = 4000;

/** The last number written in plain text (Math-Verify's expression fallback). */
export const lastPlainNumber = (text: string): string | null => {
  const tail = text.slice(-maxPlainNumberScan);
  let last: string | null = null;
  for (const m of tail.matchAll(plainNumber)) last = m[0];
  return last;
};

// Prose has words; a bare answer (`\frac{14}{3}`, `5.4 \text{ cents}`) is taken whole.
const isProse = (text: string): boolean =>
  (text.slice(-maxPlainNumberScan).replace(/\\[a-zA-Z]+/g, " ").match(/[A-Za-z]{2,}/g)
    ?.length ?? 0) >= 3;

/**
 * The completion's final answer as LaTeX text, or null when it gives none: a box, an answer
 * tag, a "final answer" / "answer is" phrase or a math span, else, in prose, its last number.
 * A short unmarked text (`<think>…</think>\n10`, `-5`) gives none: as in open-r1's reward,
 * which reads completions as LaTeX, an answer must be marked (callers that grade bare
 * answers, such as `answersEqual`, take the whole text).
 */
export const extractAnswer = (text: string): string | null =>
  lastBoxes(text) ?? answerTag(text) ?? finalAnswerIs(text) ?? lastUnmarked(text);

/**
 * Without a marked answer, whichever comes last: the last math spans, or a number in prose
 * after them (`… $d = \frac{90}{n}$ … Therefore, there are 12 sequences.` gives 12).
 */
const lastUnmarked = (text: string): string | null => {
  const spans = lastSpanGroup(text);
  const number = isProse(text) ? lastPlainNumber(spans ? text.slice(spans.end) : text) : null;
  return number ?? spans?.content ?? null;
};
