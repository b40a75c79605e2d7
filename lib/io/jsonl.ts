/**
 * Datasets and metrics as JSONL: one JSON object per line. A dataset line needs a `problem` and
 * an `answer` or a `solution`; other fields (id, level, ...) are kept as they are. A bad line is
 * reported as `file:line: what is wrong`, and either skipped or refused, as the caller chooses.
 */
import * as t from "io-ts";
import { chain, type Either, isLeft, left, right } from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { appendFile, readFile } from "node:fs/promises";
import { decodeWith, named, parseJson } from "./json_codec.ts";
import { writeFileAtomic } from "./atomic.ts";

/** A training or evaluation problem read from JSONL. */
export type JsonlExample = {
  readonly problem: string;
  readonly answer?: string;
  readonly solution?: string;
  readonly [field: string]: unknown;
};

/** A line that could not be read, by its 1-based number. */
export type JsonlError = { readonly line: number; readonly message: string };
/** The examples read and the lines skipped. */
export type JsonlParse = {
  readonly examples: readonly JsonlExample[];
  readonly errors: readonly JsonlError[];
};
/** What a bad line does: skip it (reported in `errors`) or throw naming it (the default). */
export type JsonlOptions = { readonly onError?: "skip" | "throw" };

/** Many datasets write numeric answers as JSON numbers; they become strings ("70"). */
const AnswerText = new t.Type<string, string, unknown>(
  "a string or a number",
  (u): u is string => typeof u === "string",
  (u, c) =>
    typeof u === "string"
      ? t.success(u)
      : typeof u === "number" && Number.isFinite(u)
      ? t.success(String(u))
      : t.failure(u, c),
  t.identity,
);

const ExampleCodec = t.intersection([
  named(t.type({ problem: t.string }), 'an object with a "problem" string'),
  t.partial({ answer: AnswerText, solution: t.string }),
]);

const hasReference = (where: string) => (e: JsonlExample): Either<string, JsonlExample> =>
  e.answer !== undefined || e.solution !== undefined
    ? right(e)
    : left(`${where}: needs an "answer" or a "solution" field`);

const parseLine = (text: string, where: string): Either<string, JsonlExample> =>
  pipe(
    parseJson(text, where),
    chain((value): Either<string, JsonlExample> => decodeWith(ExampleCodec, value, where)),
    chain(hasReference(where)),
  );

/** Error messages past this many are counted, not listed, when refusing a file. */
const MAX_LISTED_ERRORS = 10;

/**
 * Parses dataset JSONL text; `file` names the source in errors. Blank lines are ignored. With
 * `onError: "throw"` (the default) any bad line makes it throw, listing the bad lines.
 */
export const parseJsonl = (text: string, file: string, opts: JsonlOptions = {}): JsonlParse => {
  const examples: JsonlExample[] = [];
  const errors: JsonlError[] = [];
  text.replace(/^\uFEFF/, "").split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "") return;
    const parsed = parseLine(line, `${file}:${i + 1}`);
    if (isLeft(parsed)) errors.push({ line: i + 1, message: parsed.left });
    else examples.push(parsed.right);
  });
  if (errors.length > 0 && (opts.onError ?? "throw") === "throw") {
    const listed = errors.slice(0, MAX_LISTED_ERRORS).map((e) => e.message);
    const more = errors.length - listed.length;
    throw new Error(
      [...listed, ...(more > 0 ? [`... and ${more} more bad lines`] : [])].join("\n"),
    );
  }
  return { examples, errors };
};

/** Reads a dataset JSONL file; errors name `path` and the line. */
export const readJsonl = async (path: string, opts: JsonlOptions = {}): Promise<JsonlParse> => {
  const text = await readFile(path, "utf8").catch((e: Error) => {
    throw new Error(`${path}: cannot read: ${e.message}`);
  });
  return parseJsonl(text, path, opts);
};

/** One JSON value as one line (JSON.stringify escapes newlines inside strings). */
const jsonLine = (row: unknown): string => {
  const json = JSON.stringify(row);
  if (json === undefined) throw new Error(`jsonl: cannot write ${String(row)} as JSON`);
  return `${json}\n`;
};

/** Rows as JSONL text, one JSON object per line. */
export const formatJsonl = (rows: readonly unknown[]): string => rows.map(jsonLine).join("");

/** Replaces `path` with `rows`, atomically. */
export const writeJsonl = (path: string, rows: readonly unknown[]): Promise<void> =>
  writeFileAtomic(path, formatJsonl(rows));

/** Appends one row as one line (a metrics sink: a crash loses at most the last line). */
export const appendJsonl = (path: string, row: unknown): Promise<void> =>
  appendFile(path, jsonLine(row), "utf8");

/** A metrics log as read back for a resume; a torn line is reported, not fatal. */
export interface MetricsLog {
  readonly rows: readonly Record<string, number>[];
  /** `file:line: ...` for each line dropped because a kill cut it off mid-write. */
  readonly repaired: readonly string[];
}

/**
 * Parses a metrics JSONL written by appendJsonl. Only the LAST line may be torn (a crash loses
 * at most the line being appended): it is dropped and reported; a bad line before it means the
 * file was edited or damaged otherwise, and is refused naming the line.
 */
export const parseMetricsLog = (text: string, file: string): MetricsLog => {
  const lines = text.split("\n").map((l, i) => ({ l, i })).filter(({ l }) => l.trim() !== "");
  const rows: Record<string, number>[] = [];
  const repaired: string[] = [];
  lines.forEach(({ l, i }, k) => {
    const parsed = parseJson(l, `${file}:${i + 1}`);
    if (isLeft(parsed) || typeof parsed.right !== "object" || parsed.right === null) {
      if (k !== lines.length - 1) {
        throw new Error(
          `${file}:${i + 1}: not a metrics row (${isLeft(parsed) ? parsed.left : l.slice(0, 40)})`,
        );
      }
      repaired.push(`${file}:${i + 1}: torn last line dropped (the run was stopped mid-write)`);
    } else rows.push(parsed.right as Record<string, number>);
  });
  return { rows, repaired };
};
