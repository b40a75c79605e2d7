// The public entry points take the model first and check what they are given at run time: the
// host adapter (PeftAdapter) where a device one (LoraAdapter) belongs, a directory where a model
// belongs, or an adapter for another model fail at once with a message saying what to do.
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  adapterToHost,
  evaluate,
  generate,
  initLora,
  loadModel,
  loadTokenizer,
  logits,
  type LoraAdapter,
  mergeAdapter,
  prngKey,
  saveAdapter,
  TINA_LORA_CONFIG,
  tinyModelDir,
} from "../../mod.ts";

const dir = tinyModelDir();
const model = await loadModel(dir, { backend: "ts" });
const tokenizer = await loadTokenizer(dir);
const lora = (layers: number): LoraAdapter => ({
  config: { ...TINA_LORA_CONFIG, r: 4, loraAlpha: 16 },
  weights: initLora(model.backend, { ...model.config, numHiddenLayers: layers }, prngKey(1), 4),
});
const adapter = lora(model.config.numHiddenLayers);
const sampling = {
  temperature: 0,
  maxNewTokens: 4,
  stopTokens: [tokenizer.eosTokenId],
  padToken: tokenizer.padTokenId,
  key: prngKey(0),
};
const prompt = tokenizer.encode("1+1=");

const rejects = async (run: () => unknown, pattern: RegExp) => {
  try {
    await run();
  } catch (e) {
    assert.instance(e, TypeError);
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable(`accepted: expected ${pattern}`);
};

test("a LoraAdapter works model-first in generate, logits and mergeAdapter", async () => {
  const withAdapter = await generate(model, [prompt], { ...sampling, adapter });
  const merged = await generate(mergeAdapter(model, adapter), [prompt], sampling);
  assert.equal(merged.tokens, withAdapter.tokens);
  const out = await logits(model, [prompt], { adapter });
  assert.equal(out.shape, [1, prompt.length, model.config.vocabSize]);
});

test("a host PeftAdapter where a device adapter belongs says how to convert it", async () => {
  const host = await adapterToHost(adapter.config, adapter.weights);
  const wrong = host as unknown as LoraAdapter;
  const hint = /PeftAdapter \(host tensors.*loadAdapter\(dir, model\)/;
  await rejects(() => generate(model, [prompt], { ...sampling, adapter: wrong }), hint);
  await rejects(() => logits(model, [prompt], { adapter: wrong }), hint);
  await rejects(() => mergeAdapter(model, wrong), hint);
  await rejects(() => saveAdapter("unused", wrong), hint);
  await rejects(
    () =>
      evaluate(model, tokenizer, [{ problem: "1+1", answer: "2" }], {
        adapter: wrong,
        samplesPerProblem: 1,
        temperature: 0.6,
        topP: 0.95,
        maxNewTokens: 4,
        promptStyle: "task",
        key: prngKey(0),
        batchSize: 1,
      }),
    hint,
  );
});

test("the forward's AppliedLora, a directory for a model, a foreign adapter: named", async () => {
  const appliedForm = { weights: adapter.weights, scaling: 2 } as unknown as LoraAdapter;
  await rejects(
    () => generate(model, [prompt], { ...sampling, adapter: appliedForm }),
    /AppliedLora/,
  );
  const path = dir as unknown as typeof model;
  await rejects(() => generate(path, [prompt], sampling), /generate: expected a model.*loadModel/);
  await rejects(() => logits(path, [prompt]), /logits: expected a model/);
  const foreign = lora(model.config.numHiddenLayers + 1);
  await rejects(
    () => mergeAdapter(model, foreign),
    new RegExp(`adapter has ${model.config.numHiddenLayers + 1} layers but the model has`),
  );
  await rejects(() => mergeAdapter(model, null as unknown as LoraAdapter), /no adapter given/);
});

test.run();
