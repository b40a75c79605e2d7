/**
 * examples/train.ts end to end on a real-layout Hugging Face directory (the qwen2-tiny fixture)
 * with a small JSONL dataset, and its one-line errors for bad flags.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runProcess, runtimeCommand } from "../helpers/runtime.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const train = (args: readonly string[]) => {
  const [cmd, full] = runtimeCommand("examples/train.ts", args);
  return runProcess(cmd, full, root, 240_000);
};

test("trains the qwen2-tiny fixture on a JSONL file and writes every artifact", async () => {
  const out = await mkdtemp(join(tmpdir(), "tina-cli-"));
  try {
    const { code, output } = await train([
      "--model",
      "tests/fixtures/qwen2-tiny",
      "--tokenizer",
      "tests/data/char-tokenizer",
      "--data",
      "tests/data/tiny.jsonl",
      "--eval-data",
      "tests/data/tiny.jsonl",
      "--eval-problems",
      "3",
      "--eval-samples",
      "2",
      "--steps",
      "2",
      "--backend",
      "ts",
      "--config",
      "tests/data/tiny-config.json",
      "--out",
      out,
    ]);
    assert.is(code, 0, output);
    const summary = JSON.parse(await readFile(join(out, "summary.json"), "utf8"));
    assert.is(summary.steps, 2);
    assert.is(summary.base_weights_unchanged, true);
    assert.is(summary.eval_problems, 3);
    assert.ok(summary.trainable_params > 0 && summary.trainable_params < summary.total_params);
    const files = await readdir(out);
    for (
      const f of [
        "metrics.jsonl",
        "report.html",
        "summary.json",
        "config.json",
        "adapter",
        "checkpoints",
      ]
    ) {
      assert.ok(files.includes(f), `${f} in ${files}`);
    }
    assert.ok((await readdir(join(out, "adapter"))).includes("adapter_model.safetensors"));
    const rows = (await readFile(join(out, "metrics.jsonl"), "utf8")).trim().split("\n");
    assert.is(rows.length, 2);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test("a wrong flag or value is a one-line error with exit code 2", async () => {
  for (
    const args of [["--bogus"], ["--steps", "zero"], ["--backend", "cuda"], [
      "--rewards",
      "acuracy:1",
    ]]
  ) {
    const { code, output } = await train(args);
    assert.is(code, 2, `${args}: ${output}`);
    // deno run --check announces its type check on stderr first
    const lines = output.trim().split("\n")
      // deno-lint-ignore no-control-regex
      .filter((l) => !/^(\x1b\[[0-9;]*m)*Check\b/.test(l));
    assert.is(lines.length, 1, output);
    assert.match(lines[0], /^train: /);
  }
});

test.run();
