import { test } from "uvu";
import * as assert from "uvu/assert";
import { charTokenizerFiles, hfTokenizer } from "../../lib/tokenizer/mod.ts";

type Json = Record<string, unknown>;
const { tokenizer, config } = charTokenizerFiles({ alphabet: "abc" }) as {
  tokenizer: Json & { model: Json; added_tokens: Json[] };
  config: Json;
};
const withModel = (change: Json): Json => ({
  ...tokenizer,
  model: { ...tokenizer.model, ...change },
});
const vocab = tokenizer.model.vocab as Record<string, number>;

/** Asserts that building the tokenizer fails naming tokenizer.json and every part. */
const refused = (json: unknown, parts: readonly string[]): void => {
  assert.throws(
    () => hfTokenizer(json, config),
    (e: Error) =>
      e.message.startsWith("tokenizer.json: ") && parts.every((part) => e.message.includes(part)),
    parts.join(", "),
  );
};

test("the model type must be one the library runs, refused by name", () => {
  refused(withModel({ type: "WordLevel" }), ['field "model.type"', '"WordLevel"', '"BPE"']);
  refused(withModel({ type: undefined }), ['field "model.type": missing']);
});

test("a BPE vocabulary must map tokens to unique, non-negative integer ids", () => {
  refused(withModel({ vocab: Object.keys(vocab) }), ['field "model.vocab"', "a map from token"]);
  refused(withModel({ vocab: { ...vocab, a: -1 } }), ['token "a" has id -1', "non-negative"]);
  refused(withModel({ vocab: { ...vocab, a: 1.5 } }), ['token "a" has id 1.5']);
  refused(withModel({ vocab: { ...vocab, a: vocab.b } }), [`id ${vocab.b} is used by both`]);
  refused(withModel({ merges: [7] }), ['field "model.merges.0"']);
});

test("ids must be dense enough: a stray huge id is refused", () => {
  refused(withModel({ vocab: { ...vocab, a: 1_000_000 } }), ["ids reach 1000000", "holes"]);
});

test("added tokens: one id each, and the model's text where they share an id", () => {
  const added = tokenizer.added_tokens;
  refused({ ...tokenizer, added_tokens: [...added, { ...added[0], content: "<|x|>" }] }, [
    'field "added_tokens.',
    "used by another added token",
  ]);
  const renamed = [{ ...added[0], content: "<|other|>" }, ...added.slice(1)];
  refused({ ...tokenizer, added_tokens: renamed }, [
    'field "added_tokens.0"',
    '"<|other|>" here but "<|pad|>" in the model',
  ]);
});

const unigram = (model: Json): Json => ({
  version: "1.0",
  added_tokens: [{ id: 1, content: "</s>", special: true }],
  normalizer: null,
  pre_tokenizer: { type: "Metaspace", replacement: "\u2581", prepend_scheme: "always" },
  post_processor: null,
  decoder: { type: "Metaspace", replacement: "\u2581", prepend_scheme: "always" },
  model: { type: "Unigram", byte_fallback: false, ...model },
});
const pieces = [["<unk>", 0], ["</s>", 0], ["\u2581", -2], ["a", -1], ["b", -1], [
  "\u2581ab",
  -0.5,
]];

test("a Unigram model runs; malformed ones are refused naming the field", () => {
  const uni = hfTokenizer(unigram({ unk_id: 0, vocab: pieces }), { eos_token: "</s>" });
  assert.equal(uni.encode("ab ba"), [5, 2, 4, 3]);
  assert.is(uni.decode(uni.encode("ab ba")), "ab ba");
  const fails = (model: Json, parts: string[]) =>
    assert.throws(
      () => hfTokenizer(unigram(model), { eos_token: "</s>" }),
      (e: Error) => parts.every((part) => e.message.includes(part)),
      parts.join(", "),
    );
  fails({ unk_id: 0, vocab: { a: 0 } }, ['field "model.vocab"', "[token, score] pairs"]);
  fails({ unk_id: 0, vocab: [...pieces, ["a", 0]] }, ['token "a" is listed twice']);
  fails({ unk_id: 0, vocab: [...pieces, ["c"]] }, ['field "model.vocab.6"']);
  fails({ vocab: pieces }, ['field "model.unk_id": missing']);
  fails({ unk_id: 9, vocab: pieces }, ['field "model.unk_id": 9 is past']);
});

test.run();
