import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  charTokenizerFiles,
  defaultTaskTokenizer,
  hfTokenizer,
  loadTokenizer,
  saveTokenizer,
  TASK_ALPHABET,
} from "../../lib/tokenizer/mod.ts";

const withTempDir = async (body: (dir: string) => Promise<void>): Promise<void> => {
  const dir = await mkdtemp(join(tmpdir(), "tina-tokenizer-"));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

/** The message a promise rejects with; fails the test if it resolves. */
const rejection = (promise: Promise<unknown>): Promise<string> =>
  promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: Error) => e.message,
  );

const sample = "Compute 23+45-17.\n<think>\n23+45=68\n68-17=51\n</think>\n<answer>\n51\n</answer>";
const chat = [{ role: "system", content: "Be brief." }, { role: "user", content: "Compute 2*3." }];

test("the char tokenizer saved and loaded back gives identical ids and files", async () => {
  const original = defaultTaskTokenizer();
  await withTempDir(async (dir) => {
    await saveTokenizer(dir, original);
    const loaded = await loadTokenizer(dir);
    assert.equal(loaded.encode(sample), original.encode(sample));
    assert.equal(loaded.encode(TASK_ALPHABET), original.encode(TASK_ALPHABET));
    assert.is(loaded.applyChatTemplate(chat), original.applyChatTemplate(chat));
    assert.equal(
      [loaded.vocabSize, loaded.eosTokenId, loaded.bosTokenId, loaded.padTokenId],
      [original.vocabSize, original.eosTokenId, original.bosTokenId, original.padTokenId],
    );
    assert.equal(loaded.toJSON(), JSON.parse(JSON.stringify(original.toJSON())));
  });
});

test("tokenizer_config.json is optional; chat_template.jinja supplies and overrides the template", async () => {
  const { tokenizer, config } = charTokenizerFiles({ alphabet: "abc" });
  await withTempDir(async (dir) => {
    await writeFile(join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
    const bare = await loadTokenizer(dir);
    assert.is(bare.eosTokenId, 2); // the conventional <|eos|> added token
    assert.is(bare.bosTokenId, null);
    assert.throws(() => bare.applyChatTemplate(chat), /no chat_template/);

    await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify(config));
    await writeFile(
      join(dir, "chat_template.jinja"),
      "{% for m in messages %}[{{ m.content }}]{% endfor %}",
    );
    const templated = await loadTokenizer(dir);
    assert.is(templated.applyChatTemplate(chat), "[Be brief.][Compute 2*3.]");
    assert.is(templated.bosTokenId, 1);
  });
});

test("errors name the file at fault", async () => {
  await withTempDir(async (dir) => {
    const tokenizerPath = join(dir, "tokenizer.json");
    assert.match(await rejection(loadTokenizer(dir)), `${tokenizerPath}: cannot read`);
    await writeFile(tokenizerPath, "{ not json");
    assert.match(await rejection(loadTokenizer(dir)), `${tokenizerPath}: invalid JSON`);
    const { tokenizer, config } = charTokenizerFiles({ alphabet: "abc" });
    await writeFile(tokenizerPath, JSON.stringify(tokenizer));
    await writeFile(
      join(dir, "tokenizer_config.json"),
      JSON.stringify({ ...config, eos_token: 7 }),
    );
    assert.match(
      await rejection(loadTokenizer(dir)),
      `${join(dir, "tokenizer_config.json")}: field "eos_token"`,
    );
  });
});

test("a config naming a token missing from the vocabulary is rejected", () => {
  const { tokenizer, config } = charTokenizerFiles({ alphabet: "abc" });
  assert.throws(
    () => hfTokenizer(tokenizer, { ...config, eos_token: "<|end|>" }),
    /tokenizer_config\.json: field "eos_token": token "<\|end\|>" is not in tokenizer\.json/,
  );
  assert.throws(
    () => hfTokenizer({ model: {} }, config),
    /tokenizer\.json: field "added_tokens"/,
  );
});

test("saving writes readable JSON files", async () => {
  await withTempDir(async (dir) => {
    await saveTokenizer(join(dir, "nested"), defaultTaskTokenizer());
    const config = JSON.parse(await readFile(join(dir, "nested", "tokenizer_config.json"), "utf8"));
    assert.is(config.eos_token, "<|eos|>");
  });
});

test.run();
