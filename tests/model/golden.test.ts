/** The model against the independent PyTorch fixtures, on every backend this runtime has. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fileURLToPath } from "node:url";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { readAdapter } from "../../lib/io/peft.ts";
import { adapterKey } from "../../lib/io/peft.ts";
import { loadModel, logits } from "../../lib/model/load.ts";
import { adapterToDevice, loraScaling } from "../../lib/model/adapter.ts";
import { decoderLayer, forward, layerContext } from "../../lib/model/decoder.ts";
import { ropeFrequencies, ropeTables } from "../../lib/nn/rope.ts";
import { embedLookup } from "../../lib/nn/vocab_blocks.ts";
import { rmsNorm } from "../../lib/nn/norm.ts";
import { paramsFromWeights } from "../../lib/model/weights.ts";
import { generateFromParams } from "../../lib/sampling/generate.ts";
import { valueAndGrad } from "../../lib/autodiff/grad.ts";
import { gather, logSoftmax, mean, neg, reshape, slice } from "../../lib/autodiff/ops.ts";
import { type Tensor, tensor, toArray } from "../../lib/autodiff/tensor.ts";
import { prngKey } from "../../lib/random/prng.ts";
import { testBackends } from "../helpers/backends.ts";

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  assert.is(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

const rowsOf = (data: Int32Array, shape: readonly number[]): number[][] =>
  Array.from(
    { length: shape[0] },
    (_, i) => Array.from(data.slice(i * shape[1], (i + 1) * shape[1])),
  );

/** log softmax(logits)[b, t, ids[b][t + 1]] for t < T - 1, on the host: logp_next_*. */
const nextTokenLogProbs = (
  out: { data: Float32Array; shape: [number, number, number] },
  ids: number[][],
): number[] => {
  const [, t, v] = out.shape;
  return ids.flatMap((row, b) =>
    row.slice(1).map((next, j) => {
      const at = (b * t + j) * v;
      const scores = out.data.subarray(at, at + v);
      const max = Math.max(...scores);
      const logSum = Math.log(scores.reduce((acc, x) => acc + Math.exp(x - max), 0)) + max;
      return scores[next] - logSum;
    })
  );
};

/** Mean next-token cross-entropy, the fixture's loss_lora. */
const nextTokenLoss = (logitsT: Tensor, ids: number[][]): Tensor => {
  const [b, t, v] = logitsT.shape;
  const logp = reshape(logSoftmax(slice(logitsT, [0, 0, 0], [b, t - 1, v])), [-1]);
  const flat = ids.flatMap((row, i) => row.slice(1).map((id, j) => (i * (t - 1) + j) * v + id));
  return neg(mean(gather(logp, tensor(logitsT.backend, Int32Array.from(flat), [flat.length]), 0)));
};

/** Every family's fixture: Qwen2 (untied, and tied with other shapes), Qwen3, Llama 3. */
const FIXTURES = ["qwen2-tiny", "qwen2-tiny-tied", "qwen3-tiny", "llama-tiny"];

for (const backendName of await testBackends()) {
  for (const name of FIXTURES) {
    const dir = fixture(name);
    const golden = await readSafetensors(`${dir}/golden.safetensors`);
    const g = (k: string) => golden.floats.get(k)!.data;
    const idsT = golden.ints.get("input_ids")!;
    const ids = rowsOf(idsT.data, idsT.shape);

    test(`${backendName} ${name}: base and LoRA logits, next-token log-probs`, async () => {
      const model = await loadModel(dir, { backend: backendName });
      const base = await logits(model, ids);
      assert.ok(maxAbsDiff(base.data, g("logits_base")) < 1e-4, "base logits");
      const host = await readAdapter(dir, model.config);
      const adapter = { config: host.config, weights: adapterToDevice(model.backend, host) };
      const lora = await logits(model, ids, { adapter });
      assert.ok(maxAbsDiff(lora.data, g("logits_lora")) < 1e-4, "lora logits");
      for (const [out, key] of [[base, "logp_next_base"], [lora, "logp_next_lora"]] as const) {
        assert.ok(maxAbsDiff(nextTokenLogProbs(out, ids), g(key)) < 1e-4, key);
      }
    });

    if (golden.floats.has("logits_base_bf16_weights")) {
      test(`${backendName} ${name}: BF16 weights`, async () => {
        const model = await loadModel(dir, { backend: backendName });
        const weights = (await readSafetensors(`${dir}/model_bf16.safetensors`)).floats;
        const params = paramsFromWeights(model.backend, model.config, weights, "model_bf16");
        const low = await logits({ ...model, params }, ids);
        assert.ok(maxAbsDiff(low.data, g("logits_base_bf16_weights")) < 1e-4, "bf16");
      });
    }

    test(`${backendName} ${name}: loss and every LoRA gradient`, async () => {
      const model = await loadModel(dir, { backend: backendName });
      const host = await readAdapter(dir, model.config);
      const weights = adapterToDevice(model.backend, host);
      const scaling = loraScaling(host.config);
      const f = (w: typeof weights) =>
        nextTokenLoss(
          forward(model.config, model.params, ids, { adapter: { weights: w, scaling } }).logits,
          ids,
        );
      const { value, grads } = valueAndGrad(f)(weights);
      assert.ok(Math.abs((await toArray(value))[0] - g("loss_lora")[0]) < 1e-5, "loss");
      for (let layer = 0; layer < model.config.numHiddenLayers; layer++) {
        for (const [proj, pair] of Object.entries(grads.layers[layer])) {
          for (const m of ["A", "B"] as const) {
            const expected = g(`grad.${adapterKey(layer, proj as "q", m)}`);
            const got = await toArray(pair![m]);
            const scale = Math.max(...Array.from(expected, Math.abs));
            assert.ok(maxAbsDiff(got, expected) <= 1e-4 * scale, `grad ${layer}.${proj}.${m}`);
          }
        }
      }
    });

    test(`${backendName} ${name}: RoPE tables and every layer's activations, first divergence named`, async () => {
      const model = await loadModel(dir, { backend: backendName });
      const { config: cfg, params, backend } = model;
      const [b, t] = idsT.shape;
      const positions = [Array.from({ length: t }, (_, i) => i)];
      const frequencies = ropeFrequencies(cfg.headDim, cfg.ropeTheta, cfg.ropeScaling);
      const rope = ropeTables(backend, positions, frequencies);
      assert.ok(maxAbsDiff(await toArray(rope.cos), g("rope_cos")) < 1e-5, "rope_cos");
      assert.ok(maxAbsDiff(await toArray(rope.sin), g("rope_sin")) < 1e-5, "rope_sin");
      // Each layer gets the golden input, so a mismatch names the first layer that diverges
      // rather than the last one it propagated to.
      const hidden = (key: string) =>
        tensor(backend, g(`hidden_base.${key}`), [b, t, cfg.hiddenSize]);
      const near = async (got: Tensor, key: string) =>
        assert.ok(
          maxAbsDiff(await toArray(got), g(`hidden_base.${key}`)) < 1e-4,
          `${name}: ${key}`,
        );
      await near(embedLookup(params.embed, ids), "embed");
      const ctx = layerContext(cfg, backend, b, t, {});
      for (let i = 0; i < cfg.numHiddenLayers; i++) {
        const input = hidden(i === 0 ? "embed" : `layer${i - 1}.out`);
        const step = decoderLayer(cfg, params.layers[i], i, input, ctx, null);
        await near(step.attnOut, `layer${i}.attn_out`);
        await near(step.out, `layer${i}.out`);
      }
      const last = hidden(`layer${cfg.numHiddenLayers - 1}.out`);
      await near(rmsNorm(last, params.norm, cfg.rmsNormEps), "final_norm");
    });

    test(`${backendName} ${name}: KV-cache greedy decoding reproduces greedy_base / greedy_lora`, async () => {
      const model = await loadModel(dir, { backend: backendName });
      const host = await readAdapter(dir, model.config);
      const adapter = {
        weights: adapterToDevice(model.backend, host),
        scaling: loraScaling(host.config),
      };
      for (const [key, ad] of [["greedy_base", null], ["greedy_lora", adapter]] as const) {
        const expected = Array.from(golden.ints.get(key)!.data);
        const prompt = expected.slice(0, 4);
        const out = await generateFromParams(model.config, model.params, [prompt], {
          temperature: 0,
          maxNewTokens: expected.length - 4,
          stopTokens: [],
          padToken: 0,
          key: prngKey(0),
          adapter: ad,
        });
        assert.equal([...prompt, ...out.tokens[0]], expected, key);
      }
    });
  }

  test(`${backendName} qwen2-tiny: F16, sharded and rsLoRA files`, async () => {
    const dir = fixture("qwen2-tiny");
    const golden = await readSafetensors(`${dir}/golden.safetensors`);
    const idsT = golden.ints.get("input_ids")!;
    const ids = rowsOf(idsT.data, idsT.shape);
    const sharded = await loadModel(`${dir}/sharded`, { backend: backendName });
    assert.ok(
      maxAbsDiff((await logits(sharded, ids)).data, golden.floats.get("logits_base")!.data) < 1e-4,
      "sharded",
    );
    const host = await readAdapter(`${dir}/rslora`, sharded.config);
    assert.is(loraScaling(host.config), 4);
    const rs = await logits(sharded, ids, {
      adapter: { config: host.config, weights: adapterToDevice(sharded.backend, host) },
    });
    assert.ok(maxAbsDiff(rs.data, golden.floats.get("logits_lora_rslora")!.data) < 1e-4, "rslora");
    const weights = (await readSafetensors(`${dir}/model_f16.safetensors`)).floats;
    const params = paramsFromWeights(sharded.backend, sharded.config, weights, "model_f16");
    const low = await logits({ ...sharded, params }, ids);
    assert.ok(maxAbsDiff(low.data, golden.floats.get("logits_base_f16_weights")!.data) < 1e-4);
  });
}

test.run();
