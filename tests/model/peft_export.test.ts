/**
 * examples/train.ts on a Qwen3 and a Llama checkpoint: a few GRPO steps, then the adapter it
 * writes must have exactly the tensor names, shapes and dtype PEFT wrote for the same model and
 * LoRA settings (the fixtures' adapter_model.safetensors, r 4 on all seven projections).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readModelConfig } from "../../lib/io/hf_config.ts";
import { readAdapter } from "../../lib/io/peft.ts";
import { openSafetensors } from "../../lib/io/safetensors.ts";
import { runProcess, runtimeCommand } from "../helpers/runtime.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** name → "DTYPE [shape]" for every tensor of a safetensors file (header only). */
const layout = async (file: string): Promise<Record<string, string>> => {
  const { tensors } = await openSafetensors(file);
  return Object.fromEntries(
    [...tensors].map(([name, info]) => [name, `${info.dtype} [${info.shape.join(", ")}]`]),
  );
};

const readJson = async (file: string) => JSON.parse(await readFile(file, "utf8"));

for (const family of ["qwen3-tiny", "llama-tiny"]) {
  test(`train.ts --model ${family}: GRPO steps, then the adapter PEFT would write`, async () => {
    const fixture = join(root, "tests/fixtures", family);
    const out = await mkdtemp(join(tmpdir(), `tina-${family}-`));
    try {
      const [cmd, args] = runtimeCommand("examples/train.ts", [
        ...["--model", fixture, "--tokenizer", "tests/data/char-tokenizer"],
        ...["--data", "tests/data/tiny.jsonl", "--eval-problems", "0"],
        ...["--config", "tests/data/tiny-config.json", "--steps", "2", "--backend", "ts"],
        ...["--lora-r", "4", "--lora-alpha", "8", "--out", out],
      ]);
      const { code, output } = await runProcess(cmd, args, root, 240_000);
      assert.is(code, 0, output);
      const summary = await readJson(join(out, "summary.json"));
      assert.is(summary.steps, 2);
      assert.is(summary.base_weights_unchanged, true);

      const adapterDir = join(out, "adapter");
      assert.equal(
        await layout(join(adapterDir, "adapter_model.safetensors")),
        await layout(join(fixture, "adapter_model.safetensors")),
      );
      const ours = await readJson(join(adapterDir, "adapter_config.json"));
      const peft = await readJson(join(fixture, "adapter_config.json"));
      for (const field of ["peft_type", "task_type", "r", "lora_alpha", "bias", "use_rslora"]) {
        assert.is(ours[field], peft[field], field);
      }
      assert.equal([...ours.target_modules].sort(), [...peft.target_modules].sort());
      // And it loads back onto the model it was trained for.
      const host = await readAdapter(adapterDir, await readModelConfig(fixture));
      assert.is(host.layers.length, 2);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
}

test.run();
