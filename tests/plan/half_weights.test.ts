/**
 * A BF16 / F16 checkpoint loaded on the pure-TS backend keeps its matrices 16-bit in memory
 * (two bytes a value), gives the PyTorch golden logits of its BF16 weights, the same logits and
 * LoRA gradients as the widened weights bit for bit, and is loaded one tensor at a time.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyFile, mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isTensor, valueAndGrad } from "../../lib/autodiff/grad.ts";
import { mean, mul } from "../../lib/autodiff/ops.ts";
import { type Tensor, tensor, toArray } from "../../lib/autodiff/tensor.ts";
import { openSafetensors, readSafetensors } from "../../lib/io/safetensors.ts";
import { hiddenStates, initLora, type LoraWeights } from "../../lib/model/decoder.ts";
import { loadModel, logits } from "../../lib/model/load.ts";
import { paramsFromWeights } from "../../lib/model/weights.ts";
import { foldIn, normal, prngKey } from "../../lib/random/prng.ts";
import { tsBackend } from "../../lib/tensor/backends.ts";
import { HalfMatrix } from "../../lib/tensor/half.ts";
import { meteredBackend } from "../../lib/tensor/metered.ts";
import { treeFlatten } from "../../lib/tree.ts";

const fixture = fileURLToPath(new URL("../fixtures/qwen2-tiny", import.meta.url));
const golden = await readSafetensors(join(fixture, "golden.safetensors"));
const idsT = golden.ints.get("input_ids")!;
const ids = Array.from(
  { length: idsT.shape[0] },
  (_, r) => Array.from(idsT.data.subarray(r * idsT.shape[1], (r + 1) * idsT.shape[1])),
);

/** A model directory whose model.safetensors is the fixture's 16-bit file. */
const halfDir = async (file: string): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), "tina-half-"));
  await copyFile(join(fixture, "config.json"), join(dir, "config.json"));
  await copyFile(join(fixture, file), join(dir, "model.safetensors"));
  return dir;
};

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Array.from(a).reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

for (const file of ["model_bf16.safetensors", "model_f16.safetensors"]) {
  test(`${file}: 16-bit in memory, the widened weights' logits and gradients exactly`, async () => {
    const dir = await halfDir(file);
    try {
      const { backend, meter } = meteredBackend(tsBackend);
      const model = await loadModel(dir, { backend });
      const q = model.params.layers[0].attn.q.weight;
      assert.instance(q.handle, HalfMatrix);
      assert.instance(model.params.embed[0].handle, HalfMatrix);
      // Matrices at two bytes a value; norms and biases stay float32.
      const values = treeFlatten(model.params, isTensor).reduce(
        (n, [, t]) => n + (t as Tensor).size,
        0,
      );
      assert.ok(meter.live() < 2.2 * values, `${meter.live()} bytes for ${values} values`);

      const widened = paramsFromWeights(
        tsBackend,
        model.config,
        (await readSafetensors(join(dir, "model.safetensors"))).floats,
        file,
      );
      const half = await logits(model, ids);
      const wide = await logits({ ...model, backend: tsBackend, params: widened }, ids);
      assert.equal(half.data, wide.data);
      if (file === "model_bf16.safetensors") {
        const want = golden.floats.get("logits_base_bf16_weights")!.data;
        assert.ok(maxAbsDiff(half.data, want) < 1e-4, "golden BF16 logits");
      }

      const key = prngKey(3);
      const gradsOf = (params: typeof widened, be: typeof backend) => {
        const lora = initLora(be, model.config, key, 2);
        const shape = [ids.length, ids[0].length, model.config.hiddenSize];
        const probe = tensor(be, normal(foldIn(key, 1), shape[0] * shape[1] * shape[2]), shape);
        const { grads } = valueAndGrad((w: LoraWeights) =>
          mean(mul(
            hiddenStates(model.config, params, ids, { adapter: { weights: w, scaling: 2 } })
              .hidden,
            probe,
          ))
        )(lora);
        return Promise.all(treeFlatten(grads, isTensor).map(([, t]) => toArray(t as Tensor)));
      };
      assert.equal(await gradsOf(model.params, backend), await gradsOf(widened, tsBackend));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

test("a NaN in a 16-bit file is refused, naming the file and tensor, unless allowNonFinite", async () => {
  const dir = await halfDir("model_bf16.safetensors");
  try {
    const file = join(dir, "model.safetensors");
    const info = (await openSafetensors(file)).tensors.get("model.layers.0.mlp.up_proj.weight")!;
    const handle = await open(file, "r+");
    await handle.write(Uint8Array.from([0xc0, 0x7f]), 0, 2, info.byteOffset + 6); // a BF16 NaN
    await handle.close();
    try {
      await loadModel(dir);
      assert.unreachable("loaded a NaN weight");
    } catch (e) {
      assert.match((e as Error).message, "model.layers.0.mlp.up_proj.weight");
      assert.match((e as Error).message, /NaN/);
    }
    const model = await loadModel(dir, { allowNonFinite: true }); // asked for explicitly
    assert.ok(model.params.layers.length > 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
