/** The model against the independent PyTorch fixtures, on every backend this runtime has. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fileURLToPath } from "node:url";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { readAdapter } from "../../lib/io/peft.ts";
import { adapterKey } from "../../lib/io/peft.ts";
import { loadModel, logits } from "../../lib/model/load.ts";
import { adapterToDevice, loraScaling } from "../../lib/model/adapter.ts";
import { forward } from "../../lib/model/decoder.ts";
import { paramsFromWeights } from "../../lib/model/weights.ts";
import { generate } from "../../lib/sampling/generate.ts";
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

/** Mean next-token cross-entropy, the fixture's loss_lora. */
const nextTokenLoss = (logitsT: Tensor, ids: number[][]): Tensor => {
  const [b, t, v] = logitsT.shape;
  const logp = reshape(logSoftmax(slice(logitsT, [0, 0, 0], [b, t - 1, v])), [-1]);
  const flat = ids.flatMap((row, i) => row.slice(1).map((id, j) => (i * (t - 1) + j) * v + id));
  return neg(mean(gather(logp, tensor(logitsT.backend, Int32Array.from(flat), [flat.length]), 0)));
};

for (const backendName of await testBackends()) {
  for (const name of ["qwen2-tiny", "qwen2-tiny-tied"]) {
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
    });

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
        const out = await generate(model.config, model.params, [prompt], {
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

  test(`${backendName} qwen2-tiny: BF16, F16, sharded and rsLoRA files`, async () => {
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
    for (
      const [file, key] of [["model_bf16", "logits_base_bf16_weights"], [
        "model_f16",
        "logits_base_f16_weights",
      ]]
    ) {
      const weights = (await readSafetensors(`${dir}/${file}.safetensors`)).floats;
      const params = paramsFromWeights(sharded.backend, sharded.config, weights, file);
      const low = await logits({ ...sharded, params }, ids);
      assert.ok(maxAbsDiff(low.data, golden.floats.get(key)!.data) < 1e-4, file);
    }
  });
}

test.run();
