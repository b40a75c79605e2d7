/**
 * The preallocated KV cache: the same tokens and log-probs as the concatenated cache (greedy and
 * sampled, left-padded prompts, with an adapter), no concatenation per token, and a clear error
 * when a forward would overflow it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fileURLToPath } from "node:url";
import { readAdapter } from "../../lib/io/peft.ts";
import { adapterToDevice, loraScaling } from "../../lib/model/adapter.ts";
import { hiddenStates } from "../../lib/model/decoder.ts";
import { loadModel } from "../../lib/model/load.ts";
import { preallocateKv } from "../../lib/nn/attention.ts";
import { prngKey } from "../../lib/random/prng.ts";
import { generateFromParams } from "../../lib/sampling/generate.ts";
import type { Backend } from "../../lib/tensor/backends.ts";
import { tsBackend } from "../../lib/tensor/backends.ts";

const dir = fileURLToPath(new URL("../fixtures/qwen2-tiny", import.meta.url));

/** The pure-TS backend with its concat kernel counted. */
const counting = (): { backend: Backend; concats: () => number } => {
  let n = 0;
  const kernels = tsBackend.kernels;
  const backend: Backend = {
    ...tsBackend,
    kernels: {
      ...kernels,
      concat: (...args: Parameters<typeof kernels.concat>) => (n++, kernels.concat(...args)),
    },
  };
  return { backend, concats: () => n };
};

const prompts = [[5, 9, 11, 3], [7, 2], [1, 4, 4, 8, 13, 21]];

for (const temperature of [0, 0.8]) {
  test(`same tokens and log-probs as the concatenated cache (temperature ${temperature})`, async () => {
    const runs = await Promise.all([true, false].map(async (preallocateCache) => {
      const { backend, concats } = counting();
      const model = await loadModel(dir, { backend });
      const host = await readAdapter(dir, model.config);
      const adapter = {
        weights: adapterToDevice(backend, host),
        scaling: loraScaling(host.config),
      };
      const out = await generateFromParams(model.config, model.params, prompts, {
        maxNewTokens: 12,
        stopTokens: [],
        padToken: 0,
        key: prngKey(8),
        temperature,
        adapter,
        preallocateCache,
      });
      return { out, concats: concats() };
    }));
    const [buffered, concatenated] = runs;
    assert.equal(buffered.out, concatenated.out);
    // Two concatenations (keys, values) per layer for each of the 11 steps after the prompt.
    const layers = 2;
    assert.is(concatenated.concats - buffered.concats, 2 * layers * 11);
  });
}

test("a forward past the buffer's capacity is refused with the numbers", async () => {
  const model = await loadModel(dir);
  const cache = preallocateKv(tsBackend, model.config.numHiddenLayers, {
    batch: 1,
    kvHeads: model.config.numKeyValueHeads,
    capacity: 4,
    headDim: model.config.headDim,
  })!;
  assert.throws(
    () => hiddenStates(model.config, model.params, [[1, 2, 3, 4, 5]], { cache }),
    /0 cached \+ 5 new positions exceed the KV cache's 4/,
  );
});

test.run();
