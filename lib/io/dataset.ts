/**
 * Training and evaluation problems from the files Hugging Face datasets are published as —
 * JSONL, JSON (an array of rows, or {"data": [...]}) and Parquet (read by hyparquet) — with
 * column mapping: the problem from `problem`, `question`, `prompt` or a `messages`-style
 * conversation (or the column named by --problem-field), the gold answer from `answer` or
 * `solution` (or --answer-field). Errors name the file and the line or row.
 */
import { parquetReadObjects } from "hyparquet";
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import type { JsonlExample } from "./jsonl.ts";

export const DATASET_FORMATS = ["jsonl", "json", "parquet"] as const;
export type DatasetFormat = typeof DATASET_FORMATS[number];

/** Columns tried, in order, when no field is named. */
export const PROBLEM_COLUMNS = ["problem", "question", "prompt", "messages", "query"] as const;
export const ANSWER_COLUMNS = ["answer", "solution", "ground_truth", "final_answer"] as const;

export interface ColumnMapping {
  readonly problemField?: string | null;
  readonly answerField?: string | null;
}

export interface DatasetOptions extends ColumnMapping {
  /** A bad row is reported and skipped, or (default) the file is refused listing them. */
  readonly onError?: "skip" | "throw";
}

export interface DatasetRowError {
  /** `file:line N` (JSONL) or `file:row N` (JSON, Parquet), 1-based. */
  readonly where: string;
  readonly message: string;
}

export interface Dataset {
  readonly examples: readonly JsonlExample[];
  readonly errors: readonly DatasetRowError[];
  /** The columns the problem and the answer were read from. */
  readonly problemColumn: string;
  readonly answerColumn: string | null;
  readonly format: DatasetFormat;
}

type Row = Readonly<Record<string, unknown>>;
/** A parsed row, or why a line/element is not one. */
type RawRow = { readonly row: Row } | { readonly bad: string };
export interface RawRows {
  readonly rows: readonly RawRow[];
  readonly where: (index: number) => string;
}

export const formatOf = (path: string): DatasetFormat | null => {
  const ext = extname(path).toLowerCase().slice(1);
  return (DATASET_FORMATS as readonly string[]).includes(ext) ? ext as DatasetFormat : null;
};

const isRow = (v: unknown): v is Row => v !== null && typeof v === "object" && !Array.isArray(v);

const jsonlRows = (text: string, file: string): RawRows => {
  const lines = text.replace(/^\uFEFF/, "").split("\n").map((l, i) => ({
    l: l.replace(/\r$/, ""),
    i,
  }))
    .filter(({ l }) => l.trim() !== "");
  return {
    rows: lines.map(({ l }) => {
      try {
        const value = JSON.parse(l);
        return isRow(value)
          ? { row: value }
          : { bad: `expected a JSON object, got ${l.slice(0, 40)}` };
      } catch (e) {
        return { bad: `invalid JSON: ${(e as Error).message}` };
      }
    }),
    where: (k) => `${file}:${lines[k].i + 1}`,
  };
};

const jsonRows = (text: string, file: string): RawRows => {
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/^\uFEFF/, ""));
  } catch (e) {
    throw new Error(`${file}: invalid JSON: ${(e as Error).message}`);
  }
  const rows = Array.isArray(value)
    ? value
    : isRow(value) && Array.isArray(value.data)
    ? value.data
    : null;
  if (rows === null) {
    throw new Error(`${file}: expected a JSON array of rows or {"data": [...]}`);
  }
  return {
    rows: rows.map((r) =>
      isRow(r) ? { row: r } : { bad: `expected an object, got ${JSON.stringify(r)}` }
    ),
    where: (k) => `${file}: row ${k + 1}`,
  };
};

const parquetRows = async (bytes: Uint8Array, file: string): Promise<RawRows> => {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const rows = await parquetReadObjects({ file: buffer as ArrayBuffer }).catch((e: Error) => {
    throw new Error(`${file}: cannot read as Parquet: ${e.message}`);
  });
  return { rows: rows.map((row) => ({ row })), where: (k) => `${file}: row ${k + 1}` };
};

/** `content` of the last message with `role`, in a messages-style conversation. */
const lastMessage = (messages: readonly unknown[], role: string): string | undefined =>
  messages.filter((m): m is Row => isRow(m) && m.role === role && typeof m.content === "string")
    .map((m) => m.content as string).at(-1);

/** Answers are kept as text; many datasets store numbers ("70"), some BigInt (Parquet int64). */
const answerText = (v: unknown): string | undefined =>
  typeof v === "string"
    ? v
    : (typeof v === "number" && Number.isFinite(v)) || typeof v === "bigint"
    ? String(v)
    : undefined;

const pickColumn = (
  rows: readonly Row[],
  named: string | null | undefined,
  candidates: readonly string[],
): string | null =>
  named ?? candidates.find((c) => rows.some((r) => r[c] !== undefined && r[c] !== null)) ?? null;

/** One row as an example: the problem (a string or a conversation) and its gold answer. */
const toExample = (row: Row, problemColumn: string, answerColumn: string | null) => {
  const raw = row[problemColumn];
  const conversation = Array.isArray(raw) ? raw : null;
  const problem = conversation ? lastMessage(conversation, "user") : raw;
  if (typeof problem !== "string") {
    return {
      error: conversation
        ? `"${problemColumn}" has no user message with text content`
        : `"${problemColumn}" must be text or a list of {role, content} messages, got ${
          JSON.stringify(raw)?.slice(0, 60)
        }`,
    };
  }
  const reply = conversation ? lastMessage(conversation, "assistant") : undefined;
  const gold = answerColumn === null ? undefined : answerText(row[answerColumn]);
  if (gold === undefined && reply === undefined) {
    return {
      error: answerColumn === null
        ? `no answer: none of the columns ${ANSWER_COLUMNS.join(", ")} (use --answer-field)`
        : `"${answerColumn}" is missing or not text/number`,
    };
  }
  // A column called "solution" (or a conversation's reply) is a worked solution, graded by its
  // \boxed{} answer; any other answer column is the answer itself.
  const asSolution = answerColumn === "solution" || gold === undefined;
  const { [problemColumn]: _, ...rest } = row;
  return {
    example: {
      ...rest,
      problem,
      ...(asSolution ? { solution: gold ?? reply } : { answer: gold }),
    } as JsonlExample,
  };
};

const MAX_LISTED_ERRORS = 10;

/** Rows (already parsed) as examples under a column mapping; the file's name for errors. */
export const examplesFromRows = (
  raw: RawRows,
  file: string,
  format: DatasetFormat,
  opts: DatasetOptions = {},
): Dataset => {
  const good = raw.rows.flatMap((r) => "row" in r ? [r.row] : []);
  const columns = [...new Set(good.flatMap((r) => Object.keys(r)))];
  const problemColumn = pickColumn(good, opts.problemField, PROBLEM_COLUMNS);
  const answerColumn = pickColumn(good, opts.answerField, ANSWER_COLUMNS);
  const missing = [
    ...(problemColumn === null || !columns.includes(problemColumn)
      ? [
        `no problem column: ${
          opts.problemField
            ? `"${opts.problemField}" is not one`
            : `none of ${PROBLEM_COLUMNS.join(", ")}`
        } (columns: ${columns.join(", ") || "none"}); use --problem-field`,
      ]
      : []),
    ...(opts.answerField && !columns.includes(opts.answerField)
      ? [`no column "${opts.answerField}" (columns: ${columns.join(", ")})`]
      : []),
  ];
  if (good.length > 0 && missing.length > 0) throw new Error(`${file}: ${missing.join("; ")}`);
  const examples: JsonlExample[] = [];
  const errors: DatasetRowError[] = [];
  raw.rows.forEach((row, k) => {
    const where = raw.where(k);
    const made = "bad" in row
      ? { error: row.bad }
      : toExample(row.row, problemColumn!, answerColumn);
    if (made.example) examples.push(made.example);
    else errors.push({ where, message: made.error! });
  });
  if (errors.length > 0 && (opts.onError ?? "throw") === "throw") {
    const listed = errors.slice(0, MAX_LISTED_ERRORS).map((e) => `${e.where}: ${e.message}`);
    const more = errors.length - listed.length;
    throw new Error([...listed, ...(more > 0 ? [`... and ${more} more bad rows`] : [])].join("\n"));
  }
  if (examples.length === 0) {
    // Every row skipped: say why, or the user sees no hint of the column mapping to give.
    const why = errors.length > 0
      ? ` (${errors.length} rows skipped; ${errors[0].where}: ${errors[0].message})`
      : "";
    throw new Error(`${file}: no usable problems${why}`);
  }
  return { examples, errors, problemColumn: problemColumn!, answerColumn, format };
};

/** Reads a dataset file of any supported format (by extension) under a column mapping. */
export const readDataset = async (path: string, opts: DatasetOptions = {}): Promise<Dataset> => {
  const format = formatOf(path);
  if (format === null) {
    throw new Error(`${path}: unknown dataset format; expected .${DATASET_FORMATS.join(", .")}`);
  }
  const bytes = await readFile(path).catch((e: Error) => {
    throw new Error(`${path}: cannot read: ${e.message}`);
  });
  const text = () => new TextDecoder().decode(bytes);
  const raw = format === "parquet"
    ? await parquetRows(bytes, path)
    : format === "json"
    ? jsonRows(text(), path)
    : jsonlRows(text(), path);
  return examplesFromRows(raw, path, format, opts);
};
