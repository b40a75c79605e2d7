import { test } from "uvu";
import * as assert from "uvu/assert";
import { isLeft, isRight } from "fp-ts/lib/Either.js";
import { copyFile, readFile, writeFile } from "node:fs/promises";
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
import { readModel } from "../../lib/io/model_weights.ts";
import { fixture, rejectsWith, withTempDir } from "./helpers.ts";

const rawConfig = async (dir: string) =>
  JSON.parse(await readFile(fixture(`${dir}/config.json`), "utf8")) as Record<string, unknown>;

/** The error message for a config.json edited by `change`. */
const errorFor = async (change: Record<string, unknown>): Promise<string> => {
  const decoded = decodeModelConfig({ ...await rawConfig("qwen2-tiny"), ...change }, "config.json");
  assert.ok(isLeft(decoded), `expected ${JSON.stringify(change)} to be refused`);
  return isLeft(decoded) ? decoded.left : "";
};

const FIXTURES = ["qwen2-tiny", "qwen2-tiny-tied", "qwen3-tiny", "llama-tiny"];

test("reads every fixture config, agreeing with golden.json", async () => {
  for (const dir of FIXTURES) {
    const config = await readModelConfig(fixture(dir));
    const golden = JSON.parse(await readFile(fixture(`${dir}/golden.json`), "utf8"));
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
  const switches = async (dir: string) => {
    const c = await readModelConfig(fixture(dir));
    return [c.architecture, c.attentionBias, c.outputBias, c.mlpBias, c.qkNorm, c.ropeScaling];
  };
  assert.equal(await switches("qwen2-tiny"), ["Qwen2ForCausalLM", true, false, false, false, null]);
  assert.equal(await switches("qwen3-tiny"), ["Qwen3ForCausalLM", false, false, false, true, null]);
  assert.equal(await switches("llama-tiny"), ["LlamaForCausalLM", false, false, false, false, {
    type: "llama3",
    factor: 8,
    lowFreqFactor: 1,
    highFreqFactor: 8,
    originalMaxPositionEmbeddings: 64,
  }]);
});

test("family defaults and switches: Qwen3 head_dim 128, Llama attention_bias / mlp_bias", async () => {
  const decode = async (dir: string, change: Record<string, unknown>) => {
    const decoded = decodeModelConfig({ ...await rawConfig(dir), ...change }, "config.json");
    assert.ok(isRight(decoded), isLeft(decoded) ? decoded.left : "");
    return isRight(decoded) ? decoded.right : null!;
  };
  assert.is((await decode("qwen3-tiny", { head_dim: undefined })).headDim, 128);
  assert.is((await decode("llama-tiny", { head_dim: undefined })).headDim, 8, "hidden / heads");
  const biased = await decode("llama-tiny", { attention_bias: true, mlp_bias: true });
  assert.equal([biased.attentionBias, biased.outputBias, biased.mlpBias], [true, true, true]);
  const qwen3 = await decode("qwen3-tiny", { attention_bias: true });
  assert.equal([qwen3.attentionBias, qwen3.outputBias, qwen3.mlpBias], [true, true, false]);
  const qwen2 = await decode("qwen2-tiny", { attention_bias: false });
  assert.equal([qwen2.attentionBias, qwen2.outputBias], [true, false], "Qwen2 q/k/v always");
  const smol = await decode("llama-tiny", { rope_scaling: null });
  assert.is(smol.ropeScaling, null, "SmolLM2: plain RoPE");
  const older = await decode("llama-tiny", {
    rope_scaling: {
      ...(await rawConfig("llama-tiny")).rope_scaling as object,
      rope_type: undefined,
      type: "llama3",
    },
  });
  assert.equal(older.ropeScaling, biased.ropeScaling, "the older `type` spelling");
});

test("encodeModelConfig decodes back to the same config", async () => {
  for (const dir of FIXTURES) {
    const config = await readModelConfig(fixture(dir));
    const again = decodeModelConfig(JSON.parse(JSON.stringify(encodeModelConfig(config))), "x");
    assert.ok(isRight(again) && JSON.stringify(again.right) === JSON.stringify(config), dir);
  }
  const llama: ModelConfig = {
    ...await readModelConfig(fixture("llama-tiny")),
    attentionBias: true,
    outputBias: true,
    mlpBias: true,
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
    'field "rope_scaling.type": "linear" is not supported (supported: default, llama3)',
  );
  assert.match(
    await errorFor({ rope_parameters: { rope_theta: 1e4, rope_type: "yarn" } }),
    'field "rope_parameters.rope_type": "yarn" is not supported',
  );
  assert.match(
    await errorFor({ rope_scaling: { rope_type: "llama3", factor: 8 } }),
    'field "rope_scaling.low_freq_factor": missing for llama3 RoPE',
  );
  assert.match(await errorFor({ rope_scaling: 3 }), 'field "rope_scaling"');
  assert.match(await errorFor({ torch_dtype: "int8" }), 'field "torch_dtype"');
  assert.match(await errorFor({ hidden_act: "gelu" }), 'field "hidden_act"');
  assert.match(await errorFor({ rms_norm_eps: -1 }), 'field "rms_norm_eps"');
  assert.match(await errorFor({ mlp_bias: true }), 'field "mlp_bias"');
});

test("readModelConfig names the path for a missing file or invalid JSON", async () => {
  await withTempDir(async (dir) => {
    await rejectsWith(() => readModelConfig(dir), [join(dir, "config.json"), "cannot read"]);
    await writeFile(join(dir, "config.json"), "{ oops");
    await rejectsWith(() => readModelConfig(dir), [join(dir, "config.json"), "invalid JSON"]);
  });
});

test("fixture weights have exactly the tensors and shapes their config implies", async () => {
  for (const dir of FIXTURES) {
    const config = await readModelConfig(fixture(dir));
    const { floats } = await readSafetensors(fixture(`${dir}/model.safetensors`));
    validateWeights(config, floats, dir);
    assert.equal([...expectedWeightShapes(config).keys()].sort(), [...floats.keys()].sort(), dir);
  }
  const tied = await readModelConfig(fixture("qwen2-tiny-tied"));
  assert.not.ok(expectedWeightShapes(tied).has("lm_head.weight"));
  assert.equal(expectedWeightShapes(tied).get("model.layers.0.self_attn.q_proj.weight"), [36, 36]);
  assert.equal(expectedWeightShapes(tied).get("model.layers.1.self_attn.k_proj.bias"), [12]);
  const qwen3 = expectedWeightShapes(await readModelConfig(fixture("qwen3-tiny")));
  assert.equal(qwen3.get("model.layers.1.self_attn.q_proj.weight"), [48, 32], "head_dim 12 × 4");
  assert.equal(qwen3.get("model.layers.1.self_attn.o_proj.weight"), [32, 48]);
  assert.equal(qwen3.get("model.layers.1.self_attn.k_norm.weight"), [12]);
  assert.not.ok(qwen3.has("model.layers.0.self_attn.q_proj.bias"));
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

/** Published sizes: config.json fields of the real models, and their parameter counts. */
const REAL_MODELS = [{
  name: "Qwen3-0.6B",
  parameters: 596_049_920,
  config: {
    architectures: ["Qwen3ForCausalLM"],
    vocab_size: 151936,
    hidden_size: 1024,
    intermediate_size: 3072,
    num_hidden_layers: 28,
    num_attention_heads: 16,
    num_key_value_heads: 8,
    head_dim: 128,
    rms_norm_eps: 1e-6,
    rope_theta: 1e6,
    rope_scaling: null,
    max_position_embeddings: 40960,
    tie_word_embeddings: true,
    attention_bias: false,
    torch_dtype: "bfloat16",
  },
}, {
  name: "SmolLM2-135M",
  parameters: 134_515_008,
  config: {
    architectures: ["LlamaForCausalLM"],
    vocab_size: 49152,
    hidden_size: 576,
    intermediate_size: 1536,
    num_hidden_layers: 30,
    num_attention_heads: 9,
    num_key_value_heads: 3,
    rms_norm_eps: 1e-5,
    rope_theta: 1e5,
    rope_scaling: null,
    max_position_embeddings: 8192,
    tie_word_embeddings: true,
    torch_dtype: "bfloat16",
  },
}, {
  name: "Llama-3.2-1B",
  parameters: 1_235_814_400,
  config: {
    architectures: ["LlamaForCausalLM"],
    vocab_size: 128256,
    hidden_size: 2048,
    intermediate_size: 8192,
    num_hidden_layers: 16,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    head_dim: 64,
    rms_norm_eps: 1e-5,
    rope_theta: 5e5,
    rope_scaling: {
      factor: 32,
      high_freq_factor: 4,
      low_freq_factor: 1,
      original_max_position_embeddings: 8192,
      rope_type: "llama3",
    },
    max_position_embeddings: 131072,
    tie_word_embeddings: true,
    attention_bias: false,
    mlp_bias: false,
    torch_dtype: "bfloat16",
    eos_token_id: [128001, 128008, 128009],
  },
}];

test("real Qwen3, SmolLM2 and Llama 3.2 configs imply their published parameter counts", () => {
  for (const { name, parameters, config } of REAL_MODELS) {
    const decoded = decodeModelConfig(config, name);
    assert.ok(isRight(decoded), isLeft(decoded) ? decoded.left : name);
    if (!isRight(decoded)) continue;
    const count = [...expectedWeightShapes(decoded.right).values()]
      .reduce((n, shape) => n + shape.reduce((a, d) => a * d, 1), 0);
    assert.is(count, parameters, name);
  }
});

test("validateWeights refuses left-over tensors and non-float dtypes, naming them", async () => {
  const config = await readModelConfig(fixture("qwen2-tiny"));
  const { floats } = await readSafetensors(fixture("qwen2-tiny/model.safetensors"));
  const extra = new Map([...floats, [
    "model.layers.0.self_attn.rotary.weight",
    floats.get("model.norm.weight")!,
  ]]);
  await rejectsWith(() => validateWeights(config, extra, "model.safetensors"), [
    'model.safetensors: unexpected tensor "model.layers.0.self_attn.rotary.weight"',
  ]);
  const ints = new Map([...floats].map(([name, t]) => [name, { shape: t.shape, dtype: "F32" }]));
  ints.set("model.norm.weight", { shape: [32], dtype: "I64" });
  await rejectsWith(() => validateWeights(config, ints, "model.safetensors"), [
    'tensor "model.norm.weight" has dtype I64, model weights are F32, F16 or BF16',
  ]);
});

/** Loading `weightsOf`'s model.safetensors under `config.json` edited by `change`. */
const loadMismatched = (weightsOf: string, configOf: string, change: Record<string, unknown>) =>
  withTempDir(async (dir) => {
    await copyFile(fixture(`${weightsOf}/model.safetensors`), join(dir, "model.safetensors"));
    await writeFile(
      join(dir, "config.json"),
      JSON.stringify({ ...await rawConfig(configOf), ...change }),
    );
    await readModel(dir);
  });

test("a config that does not match its weights is refused, naming the tensor and the file", async () => {
  await rejectsWith(
    () => loadMismatched("qwen2-tiny", "qwen2-tiny", { architectures: ["LlamaForCausalLM"] }),
    [
      'model.safetensors: unexpected tensor "model.layers.0.self_attn.q_proj.bias"',
      "LlamaForCausalLM implies no such bias",
    ],
  );
  await rejectsWith(
    () => loadMismatched("qwen2-tiny", "qwen2-tiny", { num_hidden_layers: 1 }),
    ['unexpected tensor "model.layers.1.', "config.json has num_hidden_layers 1"],
  );
  await rejectsWith(
    () => loadMismatched("qwen3-tiny", "qwen3-tiny", { architectures: ["LlamaForCausalLM"] }),
    ['unexpected tensor "model.layers.0.self_attn.k_norm.weight"', "no q/k norms"],
  );
  await rejectsWith(
    () => loadMismatched("llama-tiny", "llama-tiny", { architectures: ["Qwen3ForCausalLM"] }),
    ['missing tensor "model.layers.0.self_attn.q_norm.weight" [8]'],
  );
  await rejectsWith(
    () => loadMismatched("qwen2-tiny", "qwen2-tiny", { tie_word_embeddings: true }),
    ['unexpected tensor "lm_head.weight"', "tie_word_embeddings"],
  );
});

test.run();
