/**
 * examples/eval.ts against the model's context: a default completion limit is clamped (and
 * said), a prompt that leaves no room is refused at once, and the sampling is stated.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runProcess, runtimeCommand } from "../helpers/runtime.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const evalCli = (args: readonly string[]) => {
  const [cmd, full] = runtimeCommand("examples/eval.ts", args);
  return runProcess(cmd, full, root, 120_000);
};

test("defaults fit the tiny model: task prompt, limit clamped to the context, sampling stated", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tina-eval-"));
  try {
    const out = join(dir, "eval.json");
    const { code, output } = await evalCli([
      "--data",
      "tests/data/datasets/arith_eval.jsonl",
      "--limit",
      "2",
      "--samples",
      "1",
      "--out",
      out,
    ]);
    assert.is(code, 0, output);
    assert.match(output, /task prompt, chosen for a tiny model/);
    assert.match(output, /max new tokens clamped from 4096 to \d+/);
    assert.match(output, /temperature 0\.6, top-p 0\.95, ≤ \d+ new tokens/);
    const report = JSON.parse(await readFile(out, "utf8"));
    const sampling = report.datasets[0].sampling;
    assert.is(sampling.temperature, 0.6);
    assert.ok(sampling.maxNewTokens + 18 <= 256, JSON.stringify(sampling));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a prompt that leaves no room, or a limit beyond it, is refused before generating", async () => {
  const paper = await evalCli([
    "--data",
    "tests/data/datasets/arith_eval.jsonl",
    "--prompt",
    "paper",
  ]);
  assert.is(paper.code, 1, paper.output);
  assert.match(
    paper.output,
    /prompts up to \d+ tokens \(paper prompt\) on a 256-position model .* leave no room/,
  );
  const long = await evalCli(["--max-new-tokens", "1000", "--limit", "2"]);
  assert.is(long.code, 1, long.output);
  assert.match(long.output, /--max-new-tokens 1000: .* leave room for \d+/);
});

test.run();
