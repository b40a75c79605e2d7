/**
 * Checks of a `tokenizer.json`'s model and added tokens before the tokenization library sees
 * them, so a malformed vocabulary is refused naming the file, field and token, never loaded to
 * break encode/decode later (negative or repeated ids, a list where a map belongs) nor failing
 * inside the library with its own words.
 *
 * - the model is one the library runs: BPE, WordPiece or Unigram (anything else is refused by
 *   name; the library would otherwise guess from the vocabulary's shape);
 * - ids are non-negative integers, each used by one token (an added token may repeat a model
 *   token's id only with the same text);
 * - ids are dense enough: at most half of 0..largest id unused (the library keeps one table
 *   slot per id, so a stray huge id would cost memory and leave holes decode cannot map).
 */
import * as t from "io-ts";
import {
  decodeWith,
  formatProblems,
  named,
  NonNegativeInt,
  orThrow,
  preview,
  quote,
} from "../io/json_codec.ts";

export type AddedToken = { readonly id: number; readonly content: string };

const SUPPORTED_MODELS = { BPE: null, WordPiece: null, Unigram: null };
const ModelType = t.type({
  type: t.keyof(
    SUPPORTED_MODELS,
    'one of "BPE", "WordPiece", "Unigram" (the models this library runs)',
  ),
});

const TokenIdMap = named(t.UnknownRecord, "a map from token to id");
const ModelCodecs = {
  BPE: t.type({
    vocab: TokenIdMap,
    merges: named(t.UnknownArray, 'a list of merges ("a b" or ["a", "b"])'),
  }),
  WordPiece: t.type({ vocab: TokenIdMap, unk_token: t.string }),
  Unigram: t.type({
    vocab: named(t.UnknownArray, "a list of [token, score] pairs"),
    unk_id: named(NonNegativeInt, "the id of the unknown token (this library needs one)"),
  }),
} as const;

const isMerge = (merge: unknown): boolean =>
  typeof merge === "string" ||
  (Array.isArray(merge) && merge.length === 2 && merge.every((part) => typeof part === "string"));

const isScoredPiece = (piece: unknown): piece is [string, number] =>
  Array.isArray(piece) && piece.length === 2 && typeof piece[0] === "string" &&
  Number.isFinite(piece[1]);

/** Token text by id, or a problem naming the first bad entry. */
const tokensById = (
  model: Record<string, unknown>,
  type: keyof typeof SUPPORTED_MODELS,
): Map<number, string> | string => {
  if (type === "Unigram") {
    const pieces = model.vocab as unknown[];
    const bad = pieces.findIndex((piece) => !isScoredPiece(piece));
    if (bad !== -1) return `field "model.vocab.${bad}": expected a [token, score] pair`;
    const byId = new Map<number, string>();
    const seen = new Set<string>();
    for (const [id, [token]] of (pieces as [string, number][]).entries()) {
      if (seen.has(token)) return `field "model.vocab": token ${quote(token)} is listed twice`;
      seen.add(token);
      byId.set(id, token);
    }
    if ((model.unk_id as number) >= pieces.length) {
      return `field "model.unk_id": ${model.unk_id} is past the vocabulary's ${pieces.length} tokens`;
    }
    return byId;
  }
  if (type === "BPE") {
    const bad = (model.merges as unknown[]).findIndex((merge) => !isMerge(merge));
    if (bad !== -1) return `field "model.merges.${bad}": expected "a b" or ["a", "b"]`;
  }
  const byId = new Map<number, string>();
  for (const [token, id] of Object.entries(model.vocab as Record<string, unknown>)) {
    if (!NonNegativeInt.is(id)) {
      return `field "model.vocab": token ${quote(token)} has id ${preview(id)}, ` +
        "expected a non-negative integer";
    }
    const other = byId.get(id);
    if (other !== undefined) {
      return `field "model.vocab": id ${id} is used by both ${quote(other)} and ${quote(token)}`;
    }
    byId.set(id, token);
  }
  return byId;
};

/** Problems with the added tokens' ids against the model's; `byId` gains the added tokens. */
const addedTokenProblems = (added: readonly AddedToken[], byId: Map<number, string>): string[] => {
  const addedIds = new Set<number>();
  return added.flatMap(({ id, content }, index) => {
    const where = `field "added_tokens.${index}"`;
    if (addedIds.has(id)) return [`${where}: id ${id} is used by another added token`];
    addedIds.add(id);
    const existing = byId.get(id);
    if (existing !== undefined && existing !== content) {
      return [`${where}: id ${id} is ${quote(content)} here but ${quote(existing)} in the model`];
    }
    byId.set(id, content);
    return [];
  });
};

/** Throws an error naming `file` unless the model and added tokens pass the checks above. */
export const validateVocabulary = (
  model: Record<string, unknown>,
  added: readonly AddedToken[],
  file: string,
): void => {
  // Decoded inside {model} so that errors name the field as "model.type", "model.vocab", ...
  const { type } = orThrow(decodeWith(t.type({ model: ModelType }), { model }, file)).model;
  orThrow(decodeWith(t.type({ model: ModelCodecs[type] }), { model }, file));
  const byId = tokensById(model, type);
  if (typeof byId === "string") throw new Error(`${file}: ${byId}`);
  const problems = addedTokenProblems(added, byId);
  if (problems.length > 0) throw new Error(formatProblems(file, problems));
  let largest = -1;
  for (const id of byId.keys()) largest = Math.max(largest, id);
  if (largest + 1 > 2 * byId.size) {
    throw new Error(
      `${file}: ids reach ${largest} but only ${byId.size} are used: more than half of the ` +
        "range would be holes (a corrupt or mistyped id?)",
    );
  }
};
