import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  defaultTaskTokenizer,
  makeCharTokenizer,
  REASONING_TAGS,
  TASK_ALPHABET,
} from "../../lib/tokenizer/mod.ts";
import { foldIn, prngKey, randint, split, uniform } from "../../lib/random/prng.ts";

const tok = defaultTaskTokenizer();
const completion = "<think>\n23+45=68\n68-17=51\n</think>\n<answer>\n51\n</answer>";

test("the task vocabulary: 7 specials, 4 tags, 52 letters, 10 digits, 14 punctuation", () => {
  assert.is(tok.vocabSize, 87);
  assert.is(tok.padTokenId, 0);
  assert.is(tok.bosTokenId, 1);
  assert.is(tok.eosTokenId, 2);
});

test("every character is one token and each tag is one token", () => {
  const ids = tok.encode("Compute 23+45-17.");
  assert.is(ids.length, "Compute 23+45-17.".length);
  const tagIds = REASONING_TAGS.map((tag) => tok.encode(tag));
  assert.ok(tagIds.every((ids) => ids.length === 1));
  assert.is(new Set(tagIds.map(([id]) => id)).size, 4);
  // 4 tags + "23+45=68", "68-17=51", "51" + 6 newlines
  assert.is(tok.encode(completion).length, 4 + 8 + 8 + 2 + 6);
});

test("tags are not special: decode keeps them; specials are skipped unless asked", () => {
  assert.is(tok.decode(tok.encode(completion)), completion);
  const withEos = [...tok.encode("51"), tok.eosTokenId];
  assert.is(tok.decode(withEos), "51");
  assert.is(tok.decode(withEos, { skipSpecialTokens: false }), "51<|eos|>");
});

test("unknown characters map to <|unk|>, which decode skips", () => {
  const ids = tok.encode("a€b");
  assert.is(ids.length, 3);
  assert.is(tok.decode(ids, { skipSpecialTokens: false }), "a<|unk|>b");
  assert.is(tok.decode(ids), "ab");
});

test("addSpecialTokens prepends BOS; the default adds nothing", () => {
  assert.equal(tok.encode("1", { addSpecialTokens: true }), [tok.bosTokenId!, ...tok.encode("1")]);
});

test("chat template: bos, role markers, and a generation prompt that does not prefill <think>", () => {
  const prompt = tok.applyChatTemplate([
    { role: "system", content: "Think, then answer." },
    { role: "user", content: "Compute 23+45-17." },
  ]);
  assert.is(
    prompt,
    "<|bos|><|system|>Think, then answer.\n<|user|>Compute 23+45-17.\n<|assistant|>",
  );
  const ids = tok.encode(prompt);
  assert.is(ids[0], tok.bosTokenId);
  assert.is(tok.decode(ids), "Think, then answer.\nCompute 23+45-17.\n");
  const transcript = tok.applyChatTemplate(
    [{ role: "user", content: "Compute 1+1." }, { role: "assistant", content: completion }],
    { addGenerationPrompt: false },
  );
  assert.is(transcript, `<|bos|><|user|>Compute 1+1.\n<|assistant|>${completion}<|eos|>`);
  assert.throws(() => tok.applyChatTemplate([{ role: "tool", content: "x" }]), /unknown role/);
});

test("round trip on random strings over the alphabet and tags (seeded)", () => {
  const pieces = [...Array.from(TASK_ALPHABET), ...REASONING_TAGS];
  const root = prngKey(2024);
  for (let i = 0; i < 200; i++) {
    const [lengthKey, pieceKey] = split(foldIn(root, i));
    const picks = uniform(pieceKey, randint(lengthKey, 40), 0, pieces.length);
    const text = Array.from(picks, (x) => pieces[Math.floor(x)]).join("");
    assert.is(tok.decode(tok.encode(text)), text, `sample ${i}: ${JSON.stringify(text)}`);
  }
});

test("custom alphabet and special tokens", () => {
  const small = makeCharTokenizer({
    alphabet: "ab",
    specialTokens: {
      bos: "<s>",
      eos: "</s>",
      pad: "<pad>",
      unk: "<unk>",
      system: "<sys>",
      user: "<usr>",
      assistant: "<bot>",
    },
  });
  assert.is(small.vocabSize, 9);
  assert.equal(small.encode("abba"), [7, 8, 8, 7]);
  assert.is(small.applyChatTemplate([{ role: "user", content: "ab" }]), "<s><usr>ab\n<bot>");
});

test("rejects an empty alphabet and repeated tokens", () => {
  assert.throws(() => makeCharTokenizer({ alphabet: "" }), /empty alphabet/);
  assert.throws(() => makeCharTokenizer({ alphabet: "aba" }), /"a" appears twice/);
  assert.throws(
    () => makeCharTokenizer({ alphabet: "ab", wordTokens: ["<|eos|>"] }),
    /"<\|eos\|>" appears twice/,
  );
});

test.run();
