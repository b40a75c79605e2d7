// Synthetic model files: valid safetensors with exactly the tensors the loader expects, values
// drawn per HF's initialisation, the same bytes for the same seed, and loadable as a model.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileAtomic } from "../../lib/io/atomic.ts";
import { decodeModelConfig } from "../../lib/io/hf_config.ts";
import { orThrow } from "../../lib/io/json_codec.ts";
import { decodeSafetensors, openSafetensors } from "../../lib/io/safetensors.ts";
import { expectedWeightShapes } from "../../lib/io/weight_layout.ts";
import { loadModel, logits } from "../../lib/model/load.ts";
import { parameterCount, syntheticWeightChunks } from "../../lib/plan/synthetic_model.ts";
import { prngKey } from "../../lib/random/prng.ts";

const fixture = fileURLToPath(new URL("../fixtures/qwen2-tiny/config.json", import.meta.url));
const rawConfig = JSON.parse(await readFile(fixture, "utf8"));
const config = orThrow(decodeModelConfig(rawConfig, fixture));

const concatChunks = (chunks: Iterable<Uint8Array>): Uint8Array => {
  const parts = [...chunks];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
};

test("every expected tensor, in the asked dtype, sliced or not", () => {
  for (const sliceValues of [1 << 22, 100]) {
    const bytes = concatChunks(
      syntheticWeightChunks(config, "bfloat16", prngKey(1), { sliceValues }),
    );
    const { floats } = decodeSafetensors(bytes, "synthetic");
    const expected = expectedWeightShapes(config);
    assert.equal([...floats.keys()].sort(), [...expected.keys()].sort());
    for (const [name, shape] of expected) assert.equal(floats.get(name)!.shape, shape, name);
    // Two bytes per value plus the header: BF16 on disk.
    assert.ok(bytes.length < 2 * parameterCount(config) + 20_000);
    assert.ok(bytes.length >= 2 * parameterCount(config));
  }
});

test("norms are 1, biases 0, weights ~ N(0, std²)", () => {
  const bytes = concatChunks(syntheticWeightChunks(config, "float32", prngKey(2), { std: 0.5 }));
  const { floats } = decodeSafetensors(bytes, "synthetic");
  assert.ok(floats.get("model.norm.weight")!.data.every((x) => x === 1));
  assert.ok(floats.get("model.layers.0.self_attn.q_proj.bias")!.data.every((x) => x === 0));
  const w = floats.get("model.embed_tokens.weight")!.data;
  const mean = w.reduce((a, b) => a + b, 0) / w.length;
  const std = Math.sqrt(w.reduce((a, b) => a + (b - mean) ** 2, 0) / w.length);
  assert.ok(Math.abs(mean) < 0.05, `mean ${mean}`);
  assert.ok(Math.abs(std - 0.5) < 0.05, `std ${std}`);
});

test("same seed, same bytes; another seed, other bytes", () => {
  const a = concatChunks(syntheticWeightChunks(config, "bfloat16", prngKey(3)));
  const b = concatChunks(syntheticWeightChunks(config, "bfloat16", prngKey(3)));
  const c = concatChunks(syntheticWeightChunks(config, "bfloat16", prngKey(4)));
  assert.equal(a, b);
  assert.not.equal(a, c);
});

test("the written directory loads as a model and gives finite logits", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tina-synth-"));
  try {
    await writeFile(join(dir, "config.json"), JSON.stringify(rawConfig));
    const file = join(dir, "model.safetensors");
    await writeFileAtomic(file, syntheticWeightChunks(config, "bfloat16", prngKey(5)));
    const header = await openSafetensors(file);
    assert.ok([...header.tensors.values()].every((info) => info.dtype === "BF16"));
    const model = await loadModel(dir);
    const out = await logits(model, [[1, 2, 3]]);
    assert.equal(out.shape, [1, 3, config.vocabSize]);
    assert.ok(out.data.every(Number.isFinite));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
