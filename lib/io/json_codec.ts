/**
 * JSON files decoded with io-ts codecs, with errors that name the file and the field at fault:
 * `config.json: field "hidden_size": expected a positive integer, got "abc"`.
 * Decoders return an Either; `orThrow` turns it into an exception at the public edge.
 */
import * as t from "io-ts";
import { type Either, isLeft, left, right } from "fp-ts/lib/Either.js";
import { readFile } from "node:fs/promises";

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

export const PositiveInt = refine(
  t.number,
  (n) => Number.isInteger(n) && n > 0,
  "a positive integer",
);
export const NonNegativeInt = refine(
  t.number,
  (n) => Number.isInteger(n) && n >= 0,
  "a non-negative integer",
);
export const PositiveNumber = refine(
  t.number,
  (n) => Number.isFinite(n) && n > 0,
  "a positive number",
);

/** Adds a human-readable expectation to a codec without changing what it accepts. */
export const named = <A, O>(codec: t.Type<A, O, unknown>, name: string): t.Type<A, O, unknown> =>
  new t.Type<A, O, unknown>(name, codec.is, codec.validate, codec.encode);

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
    .map((e) => e.key);
  const { type, actual } = upTo[upTo.length - 1];
  const field = path.join(".");
  const where = field === "" ? "" : `field "${field}": `;
  const line = actual === undefined
    ? `${where}missing (expected ${type.name})`
    : `${where}expected ${type.name}, got ${JSON.stringify(actual)}`;
  return { field, line };
};

export const formatDecodeErrors = (errors: t.Errors, file: string): string => {
  const seen = new Set<string>();
  const lines = errors.map(describeError).filter(({ field }) =>
    !seen.has(field) && seen.add(field)
  );
  return lines.map(({ line }) => `${file}: ${line}`).join("\n");
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
    return left(`${file}: invalid JSON: ${(e as Error).message}`);
  }
};

/** Reads and parses a JSON file; a missing file or bad JSON is an error naming the path. */
export const readJsonFile = async (path: string): Promise<unknown> => {
  const text = await readFile(path, "utf8").catch((e: Error) => {
    throw new Error(`${path}: cannot read: ${e.message}`);
  });
  return orThrow(parseJson(text, path));
};

/** Reads a JSON file and decodes it with a codec, throwing an error naming file and field. */
export const readJsonWith = async <A, O>(codec: t.Type<A, O, unknown>, path: string): Promise<A> =>
  orThrow(decodeWith(codec, await readJsonFile(path), path));
