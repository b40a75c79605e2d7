/**
 * JSON files decoded with io-ts codecs, with errors that name the file and the field at fault:
 * `config.json: field "hidden_size": expected a positive integer, got "abc"`.
 * Decoders return an Either; `orThrow` turns it into an exception at the public edge.
 */
import * as t from "io-ts";
import { type Either, isLeft, left, right } from "fp-ts/lib/Either.js";
import { readFile, stat } from "node:fs/promises";

/** A codec that narrows `base` by a predicate; `name` reads as the expectation in errors. */
export const refine = <A>(
  base: t.Type<A, A, unknown>,
  predicate: (a: A) => boolean,
  name: string,
): t.Type<A, A, unknown> =>
  new t.Type<A, A, unknown>(
    name,
    (u): u is A => base.is(u) && predicate(u),
    (u, c) => {
      const decoded = base.validate(u, c);
      return isLeft(decoded) || predicate(decoded.right) ? decoded : t.failure(u, c);
    },
    t.identity,
  );

export const PositiveInt: t.Type<number, number, unknown> = refine(
  t.number,
  (n) => Number.isInteger(n) && n > 0,
  "a positive integer",
);
export const NonNegativeInt: t.Type<number, number, unknown> = refine(
  t.number,
  (n) => Number.isInteger(n) && n >= 0,
  "a non-negative integer",
);
export const PositiveNumber: t.Type<number, number, unknown> = refine(
  t.number,
  (n) => Number.isFinite(n) && n > 0,
  "a positive number",
);

/** Adds a human-readable expectation to a codec without changing what it accepts. */
export const named = <A, O>(codec: t.Type<A, O, unknown>, name: string): t.Type<A, O, unknown> =>
  new t.Type<A, O, unknown>(name, codec.is, codec.validate, codec.encode);

/** Longest piece of file-supplied text (a key, a bad value) an error message quotes. */
export const MAX_QUOTED_CHARS = 80;
/** Problems listed in one error before the rest are only counted. */
export const MAX_PROBLEM_LINES = 8;

/** Longest message from a library or the runtime (a JSON.parse error, say) passed on. */
const MAX_FOREIGN_MESSAGE_CHARS = 400;

/** `text`, cut to `max` characters with a note of its full length. */
export const capText = (text: string, max = MAX_QUOTED_CHARS): string =>
  text.length <= max ? text : `${text.slice(0, max)}... (${text.length} characters)`;

/**
 * The message of an error thrown by a library or the runtime, to pass on inside ours: cut short,
 * with control characters (a JSON.parse error may quote a form feed from the file) escaped.
 */
export const foreignMessage = (error: unknown): string =>
  capText(
    String((error as Error)?.message ?? error).replace(
      // deno-lint-ignore no-control-regex
      /[\u0000-\u0009\u000b-\u001f\u007f]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
    ),
    MAX_FOREIGN_MESSAGE_CHARS,
  );

/** A string as a JSON literal for messages, cut short when long. */
export const quote = (text: string): string => capText(JSON.stringify(text));

/**
 * Whether `value` nests at most `maxDepth` lists/objects deep within its first `maxNodes` parts,
 * walked without recursion: JSON.stringify on a value nested 100,000 deep overflows the stack,
 * and Bun takes seconds to say so.
 */
const isSmallAndShallow = (value: unknown, maxDepth = 16, maxNodes = 256): boolean => {
  const stack: [unknown, number][] = [[value, 0]];
  for (let visited = 0; stack.length > 0; visited++) {
    const [node, depth] = stack.pop()!;
    if (visited > maxNodes || depth > maxDepth) return false;
    if (typeof node === "object" && node !== null) {
      for (const child of Object.values(node)) stack.push([child, depth + 1]);
    }
  }
  return true;
};

/** A short rendering of a file's value for an error message; never long, never throws. */
export const preview = (value: unknown): string => {
  if (isSmallAndShallow(value)) return capText(JSON.stringify(value) ?? String(value));
  const kind = Array.isArray(value) ? "list" : "object";
  return Array.isArray(value) && value.length > MAX_QUOTED_CHARS
    ? `a list of ${value.length} items`
    : `a large or deeply nested ${kind}`;
};

/**
 * One error listing problems, each line prefixed with the file; past `MAX_PROBLEM_LINES` the
 * rest are counted, so a file with 200,000 bad entries still gives a readable message.
 */
export const formatProblems = (file: string, problems: readonly string[]): string => {
  const shown = problems.slice(0, MAX_PROBLEM_LINES).map((p) => `${file}: ${p}`);
  const hidden = problems.length - shown.length;
  return [...shown, ...(hidden > 0 ? [`${file}: ... and ${hidden} more`] : [])].join("\n");
};

const isComposite = (type: t.Decoder<unknown, unknown>): boolean =>
  type instanceof t.UnionType || type instanceof t.IntersectionType;

/**
 * One line per failing field. For a union the union itself is the expectation (not each member's
 * complaint), so `eos_token_id` reads "expected an integer or a list of integers".
 */
const describeError = (error: t.ValidationError): { field: string; line: string } => {
  const entries = error.context;
  const unionAt = entries.findIndex((e, i) => i > 0 && e.type instanceof t.UnionType);
  const upTo = unionAt === -1 ? entries : entries.slice(0, unionAt + 1);
  const path = upTo
    .filter((_, i) => i > 0 && !isComposite(upTo[i - 1].type))
    .map((e) => capText(e.key));
  const { type, actual } = upTo[upTo.length - 1];
  const field = path.join(".");
  const where = field === "" ? "" : `field "${field}": `;
  const line = actual === undefined
    ? `${where}missing (expected ${type.name})`
    : `${where}expected ${type.name}, got ${preview(actual)}`;
  return { field, line };
};

export const formatDecodeErrors = (errors: t.Errors, file: string): string => {
  const seen = new Set<string>();
  const lines = errors.map(describeError).filter(({ field }) =>
    !seen.has(field) && seen.add(field)
  );
  return formatProblems(file, lines.map(({ line }) => line));
};

export const decodeWith = <A, O>(
  codec: t.Type<A, O, unknown>,
  value: unknown,
  file: string,
): Either<string, A> => {
  const decoded = codec.decode(value);
  return isLeft(decoded) ? left(formatDecodeErrors(decoded.left, file)) : right(decoded.right);
};

export const orThrow = <A>(result: Either<string, A>): A => {
  if (isLeft(result)) throw new Error(result.left);
  return result.right;
};

export const parseJson = (text: string, file: string): Either<string, unknown> => {
  try {
    return right(JSON.parse(text));
  } catch (e) {
    return left(
      `${file}: invalid JSON: ${foreignMessage(e)}`,
    );
  }
};

const [QUOTE, BACKSLASH, COLON] = [0x22, 0x5c, 0x3a];
const [OPEN_BRACE, CLOSE_BRACE, OPEN_BRACKET, CLOSE_BRACKET] = [0x7b, 0x7d, 0x5b, 0x5d];
const isSpace = (code: number) => code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;

/** Index of the quote closing the string literal that opens at `start`. */
const stringEnd = (text: string, start: number): number => {
  for (let at = text.indexOf('"', start + 1); at !== -1; at = text.indexOf('"', at + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
  return text.length;
};

/** A key literal's text; a malformed escape is left as written, for JSON.parse to report. */
const keyText = (literal: string): string => {
  if (!literal.includes("\\")) return literal.slice(1, -1);
  const decoded = parseJson(literal, "");
  return isLeft(decoded) ? literal : String(decoded.right);
};

/**
 * One pass over JSON text that builds no values: the outermost object's keys in order, repeats
 * kept (JSON.parse silently keeps the last of repeated keys), and the deepest nesting of objects
 * and lists. Linear in the text and free of recursion, so it is safe to run before JSON.parse
 * on hostile input; for text that is not JSON the result means nothing (JSON.parse then says why).
 */
export const scanJson = (text: string): { readonly keys: string[]; readonly depth: number } => {
  const keys: string[] = [];
  let [depth, deepest] = [0, 0];
  for (let at = 0; at < text.length; at++) {
    const code = text.charCodeAt(at);
    if (code === QUOTE) {
      const end = stringEnd(text, at);
      let next = end + 1;
      while (isSpace(text.charCodeAt(next))) next++;
      if (depth === 1 && text.charCodeAt(next) === COLON) {
        keys.push(keyText(text.slice(at, end + 1)));
      }
      at = end;
    } else if (code === OPEN_BRACE || code === OPEN_BRACKET) {
      deepest = Math.max(deepest, ++depth);
    } else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
      depth--;
    }
  }
  return { keys, depth: deepest };
};

const cannotRead = (path: string, error: unknown): Error =>
  new Error(`${path}: cannot read: ${foreignMessage(error)}`);

/**
 * True when `path` is a regular file, false when nothing is there; anything else is an error
 * naming it. A directory is said to be one (the runtime's own words are "EISDIR: illegal
 * operation on a directory"); a FIFO or device is refused before a read could block forever.
 */
export const isRegularFile = async (path: string, expected: string): Promise<boolean> => {
  const info = await stat(path).catch((e: { code?: string }) => {
    if (e.code === "ENOENT") return null;
    throw cannotRead(path, e);
  });
  if (info === null) return false;
  if (info.isDirectory()) throw new Error(`${path}: is a directory, expected ${expected}`);
  if (!info.isFile()) throw new Error(`${path}: is not a regular file, expected ${expected}`);
  return true;
};

/** A file's text, or null when it does not exist; other failures name the file. */
export const readOptionalText = async (path: string, expected: string): Promise<string | null> =>
  await isRegularFile(path, expected)
    ? await readFile(path, "utf8").catch((e: unknown) => {
      throw cannotRead(path, e);
    })
    : null;

/** Reads and parses a JSON file; a missing file or bad JSON is an error naming the path. */
export const readJsonFile = async (path: string): Promise<unknown> => {
  const text = await readOptionalText(path, "a JSON file");
  if (text === null) throw new Error(`${path}: cannot read: no such file`);
  return orThrow(parseJson(text, path));
};

/** Reads a JSON file and decodes it with a codec, throwing an error naming file and field. */
export const readJsonWith = async <A, O>(codec: t.Type<A, O, unknown>, path: string): Promise<A> =>
  orThrow(decodeWith(codec, await readJsonFile(path), path));
