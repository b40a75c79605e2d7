/**
 * 16-bit checkpoints on the native backend: the matrices land in the decoding kernel's arena
 * (lib/tensor/native/half_arena.ts), the logits match the PyTorch golden logits of the 16-bit
 * weights, and KV-cache greedy decoding at one row (the wasm kernel) and at several (sgemm over
 * bands the wasm module widens) picks the same tokens as the pure-TS backend, which widens the
 * same bits in JavaScript. Runs where the native backend loads (Deno, Bun).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { loadModel, logits, type Model } from "../../lib/model/load.ts";
import { prngKey } from "../../lib/random/prng.ts";
import { generateFromParams } from "../../lib/sampling/generate.ts";
import { HalfMatrix } from "../../lib/tensor/half.ts";
import { arenaAddress } from "../../lib/tensor/native/half_arena.ts";
import { testBackends } from "../helpers/backends.ts";

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

/** `name`'s model with model.safetensors replaced by `file`, on `backend`. */
const loadWith = async (name: string, file: string, backend: string): Promise<Model> => {
  const dir = await mkdtemp(join(tmpdir(), "tina-native-half-"));
  try {
    await copyFile(join(fixture(name), "config.json"), join(dir, "config.json"));
    await copyFile(join(fixture(name), file), join(dir, "model.safetensors"));
    return await loadModel(dir, { backend });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.is(a.length, b.length);
  return Array.from(a).reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
};

const greedy = async (model: Model, prompts: number[][]) =>
  (await generateFromParams(model.config, model.params, prompts, {
    temperature: 0,
    maxNewTokens: 6,
    stopTokens: [],
    padToken: 0,
    key: prngKey(0),
  })).tokens;

if ((await testBackends()).includes("native")) {
  for (const name of ["qwen2-tiny", "qwen3-tiny", "llama-tiny"]) {
    test(`${name} BF16 on native: in the arena, the golden 16-bit logits, ts's greedy tokens`, async () => {
      const golden = await readSafetensors(join(fixture(name), "golden.safetensors"));
      const idsT = golden.ints.get("input_ids")!;
      const ids = Array.from(
        { length: idsT.shape[0] },
        (_, r) => Array.from(idsT.data.subarray(r * idsT.shape[1], (r + 1) * idsT.shape[1])),
      );
      const native = await loadWith(name, "model_bf16.safetensors", "native");
      const q = native.params.layers[0].attn.q.weight.handle;
      assert.instance(q, HalfMatrix);
      assert.ok(arenaAddress((q as HalfMatrix).bits) !== null, "q_proj in the arena");
      const out = await logits(native, ids);
      const want = golden.floats.get("logits_base_bf16_weights")!.data;
      assert.ok(maxAbsDiff(out.data, want) < 1e-4, "golden BF16 logits");

      const ts = await loadWith(name, "model_bf16.safetensors", "ts");
      const prompts = [ids[0].slice(0, 5), ids[0].slice(1, 4), ids[0].slice(2, 7)];
      for (const rows of [1, 3]) {
        const batch = prompts.slice(0, rows);
        assert.equal(await greedy(native, batch), await greedy(ts, batch), `${rows} row(s)`);
      }
    });
  }
}

test.run();
