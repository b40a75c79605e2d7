import { test } from "uvu";
import * as assert from "uvu/assert";
import { isLeft, isRight } from "fp-ts/lib/Either.js";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  decodeModelConfig,
  encodeModelConfig,
  expectedWeightShapes,
  type ModelConfig,
  readModelConfig,
  readSafetensors,
  validateWeights,
} from "../../lib/io/mod.ts";
import { fixture, rejectsWith, withTempDir } from "./helpers.ts";

const rawConfig = async (dir: string) =>
  JSON.parse(await readFile(fixture(`${dir}/config.json`), "utf8")) as Record<string, unknown>;

/** The error message for a config.json edited by `change`. */
const errorFor = async (change: Record<string, unknown>): Promise<string> => {
  const decoded = decodeModelConfig({ ...await rawConfig("qwen2-tiny"), ...change }, "config.json");
  assert.ok(isLeft(decoded), `expected ${JSON.stringify(change)} to be refused`);
  return isLeft(decoded) ? decoded.left : "";
};

test("reads both fixture configs, agreeing with golden.json", async () => {
  for (const dir of ["qwen2-tiny", "qwen2-tiny-tied"]) {
    const config = await readModelConfig(fixture(dir));
    const golden = JSON.parse(await readFile(fixture(`${dir}/golden.json`), "utf8"));
    assert.is(config.architecture, "Qwen2ForCausalLM");
    assert.is(config.attentionBias, true);
    assert.is(config.headDim, golden.head_dim, dir);
    assert.is(config.hiddenSize, golden.config.hidden_size);
    assert.is(config.numKeyValueHeads, golden.config.num_key_value_heads);
    assert.is(config.ropeTheta, golden.config.rope_theta);
    assert.is(config.tieWordEmbeddings, golden.config.tie_word_embeddings);
    assert.is(config.vocabSize, golden.config.vocab_size);
    assert.equal(config.eosTokenIds, [2]);
    assert.ok(Object.isFrozen(config));
  }
  const tied = await readModelConfig(fixture("qwen2-tiny-tied"));
  assert.equal([tied.headDim, tied.ropeTheta, tied.tieWordEmbeddings], [6, 1e6, true]);
});

test("encodeModelConfig decodes back to the same config", async () => {
  for (const dir of ["qwen2-tiny", "qwen2-tiny-tied"]) {
    const config = await readModelConfig(fixture(dir));
    const again = decodeModelConfig(JSON.parse(JSON.stringify(encodeModelConfig(config))), "x");
    assert.ok(isRight(again) && JSON.stringify(again.right) === JSON.stringify(config), dir);
  }
  const llama: ModelConfig = {
    ...await readModelConfig(fixture("qwen2-tiny")),
    architecture: "LlamaForCausalLM",
    attentionBias: false,
    eosTokenIds: [2, 5],
    dtype: "bfloat16",
  };
  const again = decodeModelConfig(encodeModelConfig(llama), "x");
  assert.ok(isRight(again) && JSON.stringify(again.right) === JSON.stringify(llama));
});

test("newer and older field spellings; defaults", async () => {
  const base = await rawConfig("qwen2-tiny");
  const { rope_theta: _, torch_dtype: __, num_key_value_heads: ___, ...rest } = base;
  const decoded = decodeModelConfig({
    ...rest,
    rope_parameters: { rope_theta: 5e5, rope_type: "default" },
    dtype: "bfloat16",
    eos_token_id: [2, 7],
    architectures: ["LlamaForCausalLM"],
  }, "config.json");
  assert.ok(isRight(decoded));
  if (!isRight(decoded)) return;
  assert.is(decoded.right.ropeTheta, 5e5);
  assert.is(decoded.right.dtype, "bfloat16");
  assert.equal(decoded.right.eosTokenIds, [2, 7]);
  assert.is(decoded.right.numKeyValueHeads, 4, "defaults to the number of heads");
  assert.is(decoded.right.attentionBias, false, "Llama has no q/k/v biases");
});

test("errors name the file, the field and the bad value", async () => {
  assert.is(
    await errorFor({ hidden_size: "abc" }),
    'config.json: field "hidden_size": expected a positive integer, got "abc"',
  );
  assert.match(await errorFor({ vocab_size: undefined }), 'field "vocab_size": missing');
  assert.match(await errorFor({ architectures: ["MistralForCausalLM"] }), "MistralForCausalLM");
  assert.match(await errorFor({ num_key_value_heads: 3 }), 'field "num_key_value_heads"');
  assert.match(await errorFor({ hidden_size: 30 }), 'field "num_attention_heads"');
  assert.match(await errorFor({ head_dim: 5 }), 'field "head_dim"');
  assert.match(await errorFor({ eos_token_id: [2, "x"] }), 'field "eos_token_id"');
  assert.match(
    await errorFor({ rope_scaling: { type: "linear", factor: 2 } }),
    'field "rope_scaling"',
  );
  assert.match(
    await errorFor({ rope_parameters: { rope_theta: 1e4, rope_type: "yarn" } }),
    'field "rope_parameters.rope_type"',
  );
  assert.match(await errorFor({ torch_dtype: "int8" }), 'field "torch_dtype"');
  assert.match(await errorFor({ hidden_act: "gelu" }), 'field "hidden_act"');
  assert.match(await errorFor({ rms_norm_eps: -1 }), 'field "rms_norm_eps"');
  assert.match(
    await errorFor({ architectures: ["LlamaForCausalLM"], attention_bias: true }),
    'field "attention_bias"',
  );
});

test("readModelConfig names the path for a missing file or invalid JSON", async () => {
  await withTempDir(async (dir) => {
    await rejectsWith(() => readModelConfig(dir), [join(dir, "config.json"), "cannot read"]);
    await writeFile(join(dir, "config.json"), "{ oops");
    await rejectsWith(() => readModelConfig(dir), [join(dir, "config.json"), "invalid JSON"]);
  });
});

test("fixture weights have exactly the tensors and shapes their config implies", async () => {
  for (const dir of ["qwen2-tiny", "qwen2-tiny-tied"]) {
    const config = await readModelConfig(fixture(dir));
    const { floats } = await readSafetensors(fixture(`${dir}/model.safetensors`));
    validateWeights(config, floats, dir);
    assert.equal([...expectedWeightShapes(config).keys()].sort(), [...floats.keys()].sort(), dir);
  }
  const tied = await readModelConfig(fixture("qwen2-tiny-tied"));
  assert.not.ok(expectedWeightShapes(tied).has("lm_head.weight"));
  assert.equal(expectedWeightShapes(tied).get("model.layers.0.self_attn.q_proj.weight"), [36, 36]);
  assert.equal(expectedWeightShapes(tied).get("model.layers.1.self_attn.k_proj.bias"), [12]);
});

test("validateWeights names each missing or misshapen tensor with both shapes", async () => {
  const config = await readModelConfig(fixture("qwen2-tiny"));
  const { floats } = await readSafetensors(fixture("qwen2-tiny/model.safetensors"));
  const broken = new Map(floats);
  broken.delete("model.layers.1.mlp.up_proj.weight");
  broken.set("model.norm.weight", { shape: [31], data: new Float32Array(31) });
  await rejectsWith(() => validateWeights(config, broken, "model.safetensors"), [
    'model.safetensors: missing tensor "model.layers.1.mlp.up_proj.weight" [64, 32]',
    'tensor "model.norm.weight" has shape [31], the config implies [32]',
  ]);
  const tied = await readModelConfig(fixture("qwen2-tiny-tied"));
  await rejectsWith(() => validateWeights(tied, floats, "model.safetensors"), [
    '"model.embed_tokens.weight" has shape [64, 32], the config implies [48, 36]',
  ]);
});

test.run();
