// Sampling on the device draws what the host draws (same uniforms, same inverse-CDF rule), and
// generation with it keeps the host loop's tokens, on every backend.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fileURLToPath } from "node:url";
import { liveTensors, scope, tensor, toArray } from "../../lib/autodiff/tensor.ts";
import { loadModel } from "../../lib/model/load.ts";
import { categorical, foldIn, normal, prngKey, uniform } from "../../lib/random/prng.ts";
import { sampleOnDevice, samplesOnDevice } from "../../lib/sampling/device_sample.ts";
import { generateFromParams, SYNC_EVERY } from "../../lib/sampling/generate.ts";
import { applyTemperature, argmax, logProbOf } from "../../lib/sampling/processors.ts";
import { loadBackend } from "../../lib/tensor/backends.ts";
import { testBackends } from "../helpers/backends.ts";
import { rejectsWith } from "../io/helpers.ts";

const key = prngKey(11);
const [rows, vocab] = [8, 37];

/** Logits with a spread wide enough for real choices, and one row whose tail underflows. */
const logits = (): Float32Array => {
  const x = normal(key, rows * vocab, 0, 3);
  for (let j = 20; j < vocab; j++) x[vocab + j] = -200;
  return x;
};

/** The host loop's draw: categorical(key, …) takes uniform(key, rows), as the device test does. */
const hostDraw = (x: Float32Array, temperature: number) => {
  const processed = Array.from(
    { length: rows },
    (_, r) => {
      const row = x.subarray(r * vocab, (r + 1) * vocab);
      return temperature > 0 ? applyTemperature(row, temperature) : row;
    },
  );
  const flat = new Float32Array(rows * vocab);
  processed.forEach((row, r) => flat.set(row, r * vocab));
  const ids = temperature > 0 ? Array.from(categorical(key, flat, vocab)) : processed.map(argmax);
  return { ids, logprobs: ids.map((id, r) => logProbOf(processed[r], id)) };
};

test("only temperature-only settings sample on the device", () => {
  assert.ok(samplesOnDevice({ temperature: 0.7 }));
  assert.ok(samplesOnDevice({ temperature: 1, topP: 1, topK: null, repetitionPenalty: 1 }));
  assert.not.ok(samplesOnDevice({ temperature: 1, topK: 5 }));
  assert.not.ok(samplesOnDevice({ temperature: 1, topP: 0.9 }));
  assert.not.ok(samplesOnDevice({ temperature: 1, minP: 0.1 }));
  assert.not.ok(samplesOnDevice({ temperature: 1, repetitionPenalty: 1.1 }));
});

for (const name of await testBackends()) {
  const backend = await loadBackend(name);

  for (const temperature of [0, 0.7, 1.5]) {
    test(`${name}: device draws equal host draws at temperature ${temperature}`, async () => {
      const x = logits();
      const u = uniform(key, rows);
      const want = hostDraw(x, temperature);
      const draw = scope(() => sampleOnDevice(tensor(backend, x, [rows, vocab]), temperature, u));
      const ids = Array.from(await toArray(draw.ids));
      const logprobs = Array.from(await toArray(draw.logprobs));
      draw.ids.dispose();
      draw.logprobs.dispose();
      assert.equal(ids, want.ids);
      logprobs.forEach((lp, r) => assert.ok(Math.abs(lp - want.logprobs[r]) < 1e-4, `row ${r}`));
      assert.ok(ids[1] < 20, "never a token whose probability underflowed to 0");
    });
  }

  test(`${name}: the ends of the uniform pick the first and the last possible token`, async () => {
    const x = logits();
    for (const [u, expect] of [[0, "first"], [1 - 2 ** -24, "last"]] as const) {
      const draw = scope(() =>
        sampleOnDevice(tensor(backend, x, [rows, vocab]), 1, new Float32Array(rows).fill(u))
      );
      const ids = Array.from(await toArray(draw.ids));
      draw.ids.dispose();
      draw.logprobs.dispose();
      assert.is(ids[0], expect === "first" ? 0 : vocab - 1, `${expect} of row 0`);
      assert.is(ids[1], expect === "first" ? 0 : 19, `${expect} of the underflowing row`);
    }
  });

  test(`${name}: generation on the device keeps the host loop's tokens and stops`, async () => {
    const dir = fileURLToPath(new URL("../fixtures/qwen2-tiny", import.meta.url));
    const model = await loadModel(dir, { backend: name });
    const prompts = [[1, 2, 3, 4], [5, 6], [7, 8, 9]];
    for (const temperature of [0, 0.9]) {
      const opts = {
        temperature,
        maxNewTokens: SYNC_EVERY + 5,
        stopTokens: [3, 17],
        padToken: 0,
        key: foldIn(key, 1),
      };
      const host = await generateFromParams(model.config, model.params, prompts, {
        ...opts,
        onDevice: false,
      });
      const live = liveTensors();
      const device = await generateFromParams(model.config, model.params, prompts, {
        ...opts,
        onDevice: true,
      });
      assert.is(liveTensors(), live, "the device loop frees every tensor it made");
      assert.equal(device.tokens, host.tokens, `tokens at temperature ${temperature}`);
      assert.equal(device.finishReasons, host.finishReasons);
      device.logprobs.flat().forEach((lp, i) =>
        assert.ok(Math.abs(lp - host.logprobs.flat()[i]) < 1e-4, `log-prob ${i}`)
      );
    }
  });
}

test("onDevice with a host-only processor is a clear error", async () => {
  const dir = fileURLToPath(new URL("../fixtures/qwen2-tiny", import.meta.url));
  const model = await loadModel(dir, { backend: "ts" });
  await rejectsWith(
    () =>
      generateFromParams(model.config, model.params, [[1, 2]], {
        temperature: 1,
        topK: 5,
        maxNewTokens: 2,
        stopTokens: [],
        padToken: 0,
        key,
        onDevice: true,
      }),
    ["onDevice sampling applies temperature only", "topK"],
  );
});

test.run();
