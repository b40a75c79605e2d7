/**
 * The adapter round trip and merge on the qwen2-tiny fixture (a PEFT adapter made by PyTorch):
 * saveAdapter writes what loadAdapter reads back unchanged, and mergeAdapter's W + scaling · BA
 * gives the same logits without the adapter as the base gives with it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isTensor } from "../../lib/autodiff/grad.ts";
import { toArray } from "../../lib/autodiff/tensor.ts";
import { loraScaling } from "../../lib/model/adapter.ts";
import { mergeLora } from "../../lib/model/decoder.ts";
import { loadAdapter, loadModel, logits, saveAdapter } from "../../lib/model/load.ts";
import { treeFlatten } from "../../lib/tree.ts";

const dir = fileURLToPath(new URL("../fixtures/qwen2-tiny", import.meta.url));
const ids = [[1, 5, 9, 3, 7, 2], [4, 4, 8, 6, 1, 0]];

const hostTree = (tree: unknown): Promise<[string, number[]][]> =>
  Promise.all(
    treeFlatten(tree, isTensor).map(async ([path, t]) => [path, Array.from(await toArray(t))]),
  );

test("saveAdapter writes a PEFT directory that loadAdapter reads back unchanged", async () => {
  const model = await loadModel(dir);
  const adapter = await loadAdapter(dir, model);
  const out = await mkdtemp(join(tmpdir(), "tina-adapter-"));
  try {
    await saveAdapter(out, adapter);
    assert.equal((await readdir(out)).sort(), [
      "adapter_config.json",
      "adapter_model.safetensors",
    ]);
    const again = await loadAdapter(out, model);
    assert.equal(again.config, adapter.config);
    assert.equal(await hostTree(again.weights), await hostTree(adapter.weights));
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test("mergeAdapter: the merged weights alone give the adapted model's logits", async () => {
  const model = await loadModel(dir);
  const adapter = await loadAdapter(dir, model);
  const baseBefore = await hostTree(model.params);
  const merged = mergeLora(model.params, {
    weights: adapter.weights,
    scaling: loraScaling(adapter.config),
  });
  const adapted = await logits(model, ids, { adapter });
  const plain = await logits({ ...model, params: merged }, ids);
  const base = await logits(model, ids);
  const worst = adapted.data.reduce((m, x, i) => Math.max(m, Math.abs(x - plain.data[i])), 0);
  assert.ok(worst < 1e-4, `merged vs adapted logits differ by ${worst}`);
  const moved = adapted.data.reduce((m, x, i) => Math.max(m, Math.abs(x - base.data[i])), 0);
  assert.ok(moved > 1e-3, `the adapter changes the logits (by ${moved})`);
  assert.equal(await hostTree(model.params), baseBefore, "the base weights are not touched");
  assert.is(merged.embed, model.params.embed, "weights without an adapter are shared, not copied");
});

test.run();
