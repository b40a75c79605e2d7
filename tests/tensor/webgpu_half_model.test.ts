/**
 * A BF16 / F16 checkpoint loaded on WebGPU stays packed 16-bit on the GPU (matrices at two bytes
 * a value), and its logits match the PyTorch golden logits of its 16-bit weights: untied and
 * tied heads (the tied one multiplies by the packed embedding), and vocabulary matrices split
 * into row blocks under a binding limit. Runs where WebGPU has an adapter.
 */
import * as tf from "@tensorflow/tfjs-core";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isTensor, valueAndGrad } from "../../lib/autodiff/grad.ts";
import { mean, mul } from "../../lib/autodiff/ops.ts";
import { type Tensor, tensor, toArray } from "../../lib/autodiff/tensor.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import {
  type DecoderParams,
  hiddenStates,
  initLora,
  type LoraWeights,
} from "../../lib/model/decoder.ts";
import { loadModel, logits } from "../../lib/model/load.ts";
import { paramsFromWeights } from "../../lib/model/weights.ts";
import { foldIn, normal, prngKey } from "../../lib/random/prng.ts";
import type { Backend } from "../../lib/tensor/backends.ts";
import { packedHalfOf } from "../../lib/tensor/tfjs/half_webgpu.ts";
import { loadTfjsBackend } from "../../lib/tensor/tfjs/kernels.ts";
import { treeFlatten } from "../../lib/tree.ts";
import { testBackends } from "../helpers/backends.ts";

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

/** A model directory whose model.safetensors is one of the fixture's files. */
const modelDir = async (name: string, file: string): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), "tina-webgpu-half-"));
  await copyFile(join(fixture(name), "config.json"), join(dir, "config.json"));
  await copyFile(join(fixture(name), file), join(dir, "model.safetensors"));
  return dir;
};

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.is(a.length, b.length);
  return Array.from(a).reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
};

/** GPU bytes a model's weights take, and its logits on the fixture's ids. */
const loadAndRun = async (name: string, file: string, backend: Backend) => {
  const golden = await readSafetensors(join(fixture(name), "golden.safetensors"));
  const idsT = golden.ints.get("input_ids")!;
  const ids = Array.from(
    { length: idsT.shape[0] },
    (_, r) => Array.from(idsT.data.subarray(r * idsT.shape[1], (r + 1) * idsT.shape[1])),
  );
  const dir = await modelDir(name, file);
  try {
    const before = tf.memory().numBytes;
    const model = await loadModel(dir, { backend });
    const bytes = tf.memory().numBytes - before;
    return { model, bytes, golden, out: await logits(model, ids) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

if ((await testBackends()).includes("webgpu")) {
  const webgpu = await loadTfjsBackend("webgpu");
  const cases = [
    { name: "qwen2-tiny", file: "model_bf16.safetensors", want: "logits_base_bf16_weights" },
    { name: "qwen2-tiny", file: "model_f16.safetensors", want: "logits_base_f16_weights" },
    { name: "qwen3-tiny", file: "model_bf16.safetensors", want: "logits_base_bf16_weights" },
    { name: "llama-tiny", file: "model_bf16.safetensors", want: "logits_base_bf16_weights" },
  ];
  for (const { name, file, want } of cases) {
    test(`${name} ${file}: packed on the GPU, the golden 16-bit logits`, async () => {
      const { model, bytes, golden, out } = await loadAndRun(name, file, webgpu);
      const q = model.params.layers[0].attn.q.weight;
      assert.ok(packedHalfOf(q.handle as tf.Tensor), "q_proj packed");
      assert.ok(packedHalfOf(model.params.embed[0].handle as tf.Tensor), "embedding packed");
      const full = await loadAndRun(name, "model.safetensors", webgpu);
      // Matrices at two bytes a value, norms and biases at four.
      assert.ok(bytes < 0.6 * full.bytes, `${bytes} GPU bytes against ${full.bytes} for float32`);
      const diff = maxAbsDiff(out.data, golden.floats.get(want)!.data);
      assert.ok(diff < 1e-4, `max |diff| ${diff} from ${want}`);
    });
  }

  test("LoRA gradients through packed weights: those of the widened weights", async () => {
    const dir = await modelDir("qwen2-tiny", "model_bf16.safetensors");
    try {
      const model = await loadModel(dir, { backend: webgpu });
      const floats = (await readSafetensors(join(dir, "model.safetensors"))).floats;
      const widened = paramsFromWeights(webgpu, model.config, floats, "model_bf16");
      const ids = [[3, 17, 42, 5, 9], [60, 1, 2, 33, 8]];
      const key = prngKey(5);
      const shape = [ids.length, ids[0].length, model.config.hiddenSize];
      const probe = tensor(webgpu, normal(foldIn(key, 1), shape[0] * shape[1] * shape[2]), shape);
      const gradsOf = async (params: DecoderParams) => {
        const lora = initLora(webgpu, model.config, key, 2);
        const { grads } = valueAndGrad((w: LoraWeights) =>
          mean(mul(
            hiddenStates(model.config, params, ids, { adapter: { weights: w, scaling: 2 } }).hidden,
            probe,
          ))
        )(lora);
        return await Promise.all(treeFlatten(grads, isTensor).map(([, t]) => toArray(t as Tensor)));
      };
      const [packed, wide] = [await gradsOf(model.params), await gradsOf(widened)];
      assert.is(packed.length, wide.length);
      // A's gradients are 0 (B starts at 0); B's flow back through every packed W as g · W.
      assert.ok(wide.some((g) => g.some((x) => x !== 0)), "some gradient is not zero");
      packed.forEach((g, i) => {
        const scale = Math.max(...Array.from(wide[i], Math.abs));
        assert.ok(maxAbsDiff(g, wide[i]) <= 1e-5 * scale, `gradient ${i}`);
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("vocabulary matrices as packed row blocks under a binding limit: same logits", async () => {
    const limited = await loadTfjsBackend("webgpu", { maxBindingBytes: 4096 });
    const { model, out } = await loadAndRun("qwen2-tiny", "model_bf16.safetensors", limited);
    assert.ok(model.params.embed.length >= 2, `${model.params.embed.length} embedding blocks`);
    assert.ok(model.params.lmHead!.length >= 2, `${model.params.lmHead!.length} head blocks`);
    assert.ok(model.params.embed.every((b) => packedHalfOf(b.handle as tf.Tensor)));
    const whole = await loadAndRun("qwen2-tiny", "model_bf16.safetensors", webgpu);
    assert.ok(maxAbsDiff(out.data, whole.out.data) < 1e-5);
  });
}

test.run();
