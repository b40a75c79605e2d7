import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  INDEX_FILE,
  openModelWeights,
  readModel,
  readModelWeights,
  readSafetensors,
  writeSafetensors,
} from "../../lib/io/mod.ts";
import { fixture, rejectsWith, withTempDir } from "./helpers.ts";

const bitsOf = (data: Float32Array) => new Uint32Array(data.slice().buffer);
const SHARDS = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];

/** A copy of the sharded fixture whose index JSON is rewritten by `edit`. */
const shardedCopy = async (
  dir: string,
  edit: (index: { weight_map: Record<string, string> }) => void,
) => {
  for (const name of [...SHARDS, "config.json"]) {
    await copyFile(fixture(`qwen2-tiny/sharded/${name}`), join(dir, name));
  }
  const index = JSON.parse(await readFile(fixture(`qwen2-tiny/sharded/${INDEX_FILE}`), "utf8"));
  edit(index);
  await writeFile(join(dir, INDEX_FILE), JSON.stringify(index));
};

test("sharded weights equal the single-file weights bit for bit", async () => {
  const single = await readModelWeights(fixture("qwen2-tiny"));
  const sharded = await readModelWeights(fixture("qwen2-tiny/sharded"));
  assert.equal([...sharded.keys()].sort(), [...single.keys()].sort());
  for (const [name, tensor] of single) {
    assert.equal(sharded.get(name)!.shape, tensor.shape);
    assert.equal(bitsOf(sharded.get(name)!.data), bitsOf(tensor.data), name);
  }
});

test("openModelWeights indexes the shards and reads one tensor lazily", async () => {
  const index = await openModelWeights(fixture("qwen2-tiny/sharded"));
  assert.ok(index.source.endsWith(INDEX_FILE));
  assert.is(index.tensors.size, 27);
  assert.ok(index.tensors.get("lm_head.weight")!.file.endsWith(SHARDS[1]));
  const { floats } = await readSafetensors(fixture("qwen2-tiny/model.safetensors"));
  assert.equal(
    bitsOf((await index.read("lm_head.weight")).data),
    bitsOf(floats.get("lm_head.weight")!.data),
  );
  await rejectsWith(() => index.read("nope"), [INDEX_FILE, '"nope"']);
});

test("readModel loads config and checked weights of every fixture layout", async () => {
  for (const dir of ["qwen2-tiny", "qwen2-tiny/sharded", "qwen2-tiny-tied"]) {
    const { config, weights } = await readModel(fixture(dir));
    assert.is(
      weights.size,
      3 + config.numHiddenLayers * 12 - (config.tieWordEmbeddings ? 1 : 0),
      dir,
    );
  }
});

test("readModel refuses weights that do not fit the config, naming the tensor", async () => {
  await withTempDir(async (dir) => {
    await copyFile(fixture("qwen2-tiny-tied/config.json"), join(dir, "config.json"));
    await copyFile(fixture("qwen2-tiny/model.safetensors"), join(dir, "model.safetensors"));
    await rejectsWith(() => readModel(dir), [
      "model.safetensors",
      '"model.embed_tokens.weight"',
      "[48, 36]",
    ]);
  });
});

test("sharded errors name the shard and the tensor", async () => {
  await withTempDir(async (dir) => {
    await shardedCopy(dir, (index) => {
      index.weight_map["lm_head.weight"] = SHARDS[0];
    });
    await rejectsWith(() => readModelWeights(dir), [SHARDS[0], 'no tensor "lm_head.weight"']);
  });
  await withTempDir(async (dir) => {
    await shardedCopy(dir, (index) => {
      index.weight_map["lm_head.weight"] = "model-00003-of-00002.safetensors";
    });
    await rejectsWith(() => readModelWeights(dir), [
      INDEX_FILE,
      'shard "model-00003-of-00002.safetensors"',
    ]);
  });
  await withTempDir(async (dir) => {
    await shardedCopy(dir, (index) => {
      index.weight_map["lm_head.weight"] = "../elsewhere.safetensors";
    });
    await rejectsWith(() => readModelWeights(dir), [
      INDEX_FILE,
      'field "weight_map.lm_head.weight"',
    ]);
  });
  await withTempDir(async (dir) => {
    await rejectsWith(() => readModelWeights(dir), [dir, "model.safetensors", INDEX_FILE]);
  });
});

test("a NaN weight is refused naming file, tensor and count; allowNonFinite loads it", async () => {
  await withTempDir(async (dir) => {
    const { floats } = await readSafetensors(fixture("qwen2-tiny/model.safetensors"));
    const norm = floats.get("model.norm.weight")!;
    const poisoned = norm.data.slice();
    poisoned.set([NaN, Infinity], 3);
    await writeSafetensors(
      join(dir, "model.safetensors"),
      new Map([...floats, ["model.norm.weight", { shape: norm.shape, data: poisoned }]]),
    );
    await rejectsWith(() => readModelWeights(dir), [
      join(dir, "model.safetensors"),
      'tensor "model.norm.weight": 2 of 32 values are NaN or infinite',
    ]);
    const allowed = await readModelWeights(dir, { allowNonFinite: true });
    assert.ok(Number.isNaN(allowed.get("model.norm.weight")!.data[3]));
  });
});

test("a file where the directory belongs, and a directory where a file belongs, are named", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "config.json");
    await writeFile(file, "{}");
    await rejectsWith(() => readModelWeights(file), [
      file,
      "is a file, expected a model directory",
    ]);
    await mkdir(join(dir, "model.safetensors"));
    await rejectsWith(() => readModelWeights(dir), [
      join(dir, "model.safetensors"),
      "is a directory, expected a safetensors file",
    ]);
  });
});

test.run();
