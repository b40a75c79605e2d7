/**
 * GGUF export without a server: what the writer writes, the reader reads back (every metadata
 * value and tensor, f32 exactly, f16 within half precision), for each family's fixture and its
 * PEFT adapter; llama.cpp's naming, Llama's q/k row permutation, rsLoRA's alpha, and the
 * tokenizer rules (byte-level texts, one placeholder merge, control tokens).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import {
  decodeGguf,
  encodeGguf,
  type GgufFile,
  ggufLora,
  ggufModel,
  ggufVocabulary,
} from "../../lib/io/gguf.ts";
import { readModel } from "../../lib/io/model_weights.ts";
import { readAdapter } from "../../lib/io/peft.ts";
import { fixtureVocabulary } from "./helpers.ts";

const FIXTURES = join(import.meta.dirname ?? ".", "..", "fixtures");
const families = [
  ["qwen2-tiny", "qwen2"],
  ["qwen3-tiny", "qwen3"],
  ["llama-tiny", "llama"],
] as const;

const meta = (f: GgufFile, key: string) => {
  const v = f.metadata.get(key);
  assert.ok(v, `metadata ${key} present`);
  return v!.type === "array" ? v!.values : v!.value;
};

const tensorOf = (f: GgufFile, name: string) => {
  const t = f.tensors.find((x) => x.name === name);
  assert.ok(t, `tensor ${name} present`);
  return t!.tensor;
};

for (const [dir, arch] of families) {
  test(`${dir}: base model round trip (names, shapes, values, metadata)`, async () => {
    const { config, weights } = await readModel(join(FIXTURES, dir));
    const file = ggufModel(config, weights, fixtureVocabulary(config.vocabSize));
    const back = decodeGguf(encodeGguf(file), dir);
    assert.is(meta(back, "general.architecture"), arch);
    assert.is(meta(back, `${arch}.block_count`), config.numHiddenLayers);
    assert.is(meta(back, `${arch}.attention.head_count_kv`), config.numKeyValueHeads);
    assert.is(meta(back, `${arch}.attention.key_length`), config.headDim);
    assert.is(meta(back, "tokenizer.ggml.eos_token_id"), 2);
    assert.equal(back.tensors.map((t) => t.name), file.tensors.map((t) => t.name));
    for (const [i, t] of back.tensors.entries()) {
      assert.equal(t.tensor.shape, file.tensors[i].tensor.shape, t.name);
      assert.equal(t.tensor.data, file.tensors[i].tensor.data, t.name);
    }
    const embed = tensorOf(back, "token_embd.weight");
    assert.equal(embed.data, weights.get("model.embed_tokens.weight")!.data);
    assert.is(back.tensors.some((t) => t.name === "output.weight"), !config.tieWordEmbeddings);
    assert.is(back.tensors.some((t) => t.name === "blk.0.attn_q_norm.weight"), config.qkNorm);
    assert.is(
      back.tensors.some((t) => t.name === "rope_freqs.weight"),
      config.ropeScaling !== null,
    );
    assert.is(back.tensors.some((t) => t.name === "blk.1.attn_q.bias"), config.attentionBias);
  });

  test(`${dir}: LoRA adapter round trip (general.type adapter, alpha, A/B per projection)`, async () => {
    const { config } = await readModel(join(FIXTURES, dir));
    const adapter = await readAdapter(join(FIXTURES, dir), config);
    const back = decodeGguf(encodeGguf(ggufLora(config, adapter)), `${dir} adapter`);
    assert.is(meta(back, "general.type"), "adapter");
    assert.is(meta(back, "adapter.type"), "lora");
    assert.is(meta(back, "adapter.lora.alpha"), adapter.config.loraAlpha);
    const a = tensorOf(back, "blk.1.ffn_down.weight.lora_a");
    assert.equal(a.data, adapter.layers[1].down!.A.data);
    assert.equal(tensorOf(back, "blk.0.attn_v.weight.lora_b").data, adapter.layers[0].v!.B.data);
    const qB = tensorOf(back, "blk.0.attn_q.weight.lora_b");
    const same = qB.data.every((x, i) => x === adapter.layers[0].q!.B.data[i]);
    assert.is(same, arch !== "llama", "only Llama permutes q rows");
  });
}

test("llama: q/k rows go from HF's rotate-half order to llama.cpp's interleaved order", async () => {
  const { config, weights } = await readModel(join(FIXTURES, "llama-tiny"));
  const file = ggufModel(config, weights, fixtureVocabulary(config.vocabSize));
  const hf = weights.get("model.layers.0.self_attn.k_proj.weight")!;
  const gguf = tensorOf(file, "blk.0.attn_k.weight");
  const [rows, cols] = hf.shape;
  const half = config.headDim / 2;
  // Row (head h, pair p, i) of HF lands at (head h, i, pair p).
  for (let r = 0; r < rows; r++) {
    const h = Math.floor(r / config.headDim), p = Math.floor((r % config.headDim) / half);
    const to = h * config.headDim + (r % half) * 2 + p;
    assert.equal(
      gguf.data.subarray(to * cols, (to + 1) * cols),
      hf.data.subarray(r * cols, (r + 1) * cols),
    );
  }
  assert.equal(
    tensorOf(file, "blk.0.attn_v.weight").data,
    weights.get("model.layers.0.self_attn.v_proj.weight")!.data,
  );
});

test("rsLoRA: llama.cpp's alpha / r equals PEFT's alpha / sqrt(r)", async () => {
  const { config } = await readModel(join(FIXTURES, "qwen2-tiny"));
  const adapter = await readAdapter(join(FIXTURES, "qwen2-tiny", "rslora"), config);
  const alpha = meta(decodeGguf(encodeGguf(ggufLora(config, adapter))), "adapter.lora.alpha");
  const { r, loraAlpha } = adapter.config;
  assert.ok(Math.abs((alpha as number) / r - loraAlpha / Math.sqrt(r)) < 1e-6);
});

test("f16 export halves matrices and keeps norms in f32", async () => {
  const { config, weights } = await readModel(join(FIXTURES, "qwen2-tiny"));
  const file = ggufModel(config, weights, fixtureVocabulary(config.vocabSize), { dtype: "F16" });
  const back = decodeGguf(encodeGguf(file));
  const q = back.tensors.find((t) => t.name === "blk.0.attn_q.weight")!;
  assert.is(q.type, "F16");
  assert.is(back.tensors.find((t) => t.name === "blk.0.attn_norm.weight")!.type, "F32");
  const src = weights.get("model.layers.0.self_attn.q_proj.weight")!.data;
  q.tensor.data.forEach((x, i) =>
    assert.ok(Math.abs(x - src[i]) <= 1e-3 * Math.max(1, Math.abs(src[i])))
  );
});

test("vocabulary: byte-level texts, control tokens, unused padding rows, one placeholder merge", async () => {
  const json = {
    model: { type: "BPE", vocab: { a: 3, " ": 4, "é": 5 }, merges: [] },
    added_tokens: [
      { id: 0, content: "<|eos|>", special: true },
      { id: 1, content: "<x>", special: false },
    ],
  };
  const v = ggufVocabulary(json, 8, { bos: null, eos: [0], pad: null });
  assert.equal(v.tokens.slice(0, 6), ["<|eos|>", "<x>", "[PAD2]", "a", "Ġ", "Ã©"]);
  assert.equal(v.tokenTypes, [3, 4, 5, 1, 1, 1, 5, 5]);
  const byteLevel = { ...json, pre_tokenizer: { type: "ByteLevel" } };
  assert.is(ggufVocabulary(byteLevel, 8, { bos: null, eos: [0], pad: null }).tokens[4], " ");
  const { config, weights } = await readModel(join(FIXTURES, "qwen2-tiny"));
  const file = ggufModel(config, weights, fixtureVocabulary(config.vocabSize));
  const merges = meta(file, "tokenizer.ggml.merges") as string[];
  assert.is(merges.length, 1, "llama.cpp refuses an empty merges list");
});

test("bad input: wrong vocabulary size, too many stop tokens, non-BPE tokenizer", async () => {
  const { config, weights } = await readModel(join(FIXTURES, "qwen2-tiny"));
  assert.throws(() => ggufModel(config, weights, fixtureVocabulary(10)), /64/);
  assert.throws(
    () => ggufModel(config, weights, { ...fixtureVocabulary(64), eosTokenIds: [1, 2, 3, 4] }),
    /three end-of-generation/,
  );
  assert.throws(
    () => ggufVocabulary({ model: { type: "Unigram" } }, 4, { bos: null, eos: [], pad: null }),
    /BPE/,
  );
  assert.throws(
    () => decodeGguf(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), "x.gguf"),
    /x.gguf.*magic/,
  );
});

test.run();
