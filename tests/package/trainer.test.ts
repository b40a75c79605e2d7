// The one-call trainer on the shipped tiny model: a built-in and a user reward together in the
// metrics, train() and createTrainer().step() agree, abort stops after a step, and wrong
// arguments fail with a message naming them.
import { test } from "uvu";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as assert from "uvu/assert";
import {
  arithmeticSplits,
  type BatchContext,
  createTrainer,
  type Example,
  loadModel,
  loadTokenizer,
  type MetricsRow,
  taskPrompt,
  tinyModelDir,
  train,
  type TrainOptions,
} from "../../mod.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const runProgram = (file: string, args: readonly string[]) => {
  const [cmd, pre] = runtimeCommand();
  return promisify(execFile)(cmd, [...pre, join(root, file), ...args], {
    cwd: root,
    maxBuffer: 64 << 20,
  });
};
const runtimeCommand = (): [string, string[]] => {
  const runtime = process.env.TINA_RUNTIME ?? "node";
  const bin = (name: string) => join(root, "node_modules", ".bin", name);
  if (runtime === "deno") return [bin("deno"), ["run", "-A"]];
  if (runtime === "bun") return [bin("bun"), []];
  return ["node", ["--import", "tsx"]];
};

const dir = tinyModelDir();
const model = await loadModel(dir, { backend: "ts" });
const tokenizer = await loadTokenizer(dir);
type Row = Example<{ level: number }>;
const data: Row[] = arithmeticSplits(0, { train: 64, heldOut: 0 }).train.map((ex, i) => ({
  ...ex,
  level: i % 3,
}));
const config = {
  preset: "tina",
  maxSteps: 2,
  promptsPerStep: 2,
  numGenerations: 4,
  gradientAccumulationSteps: 1,
  maxPromptLength: 64,
  maxCompletionLength: 16,
  temperature: 0.7,
  learningRate: 2e-3,
  lora: { r: 2, alpha: 8, dropout: 0 },
};
// Module-level so every runtime keeps the function's name (the metric's name).
const levelBonus = (completion: string, example: Row) =>
  completion.includes("<answer>") ? example.level : 0;
// 1 when the reward sees the chat prompt that posed its own example.
const seesPrompt = (_: string, example: Row, ctx?: BatchContext) =>
  ctx?.prompt?.at(-1)?.content === example.problem ? 1 : 0;
const options: TrainOptions<Row> = {
  model,
  tokenizer,
  data,
  prompt: taskPrompt,
  rewards: ["accuracy", levelBonus, seesPrompt],
  config,
  now: () => 0,
};
// Timing columns (and the cost in dollars, priced by the second) differ between runs; every
// other number must match exactly.
const withoutTimes = (rows: readonly MetricsRow[]) =>
  rows.map((r) =>
    Object.fromEntries(Object.entries(r).filter(([k]) => !/second|per_s|time|dollars/i.test(k)))
  );

const result = await train(options);

test("train(): a built-in and a user reward run together and are logged by name", () => {
  assert.is(result.stopped, "completed");
  assert.is(result.state.step, 2);
  assert.is(result.metrics.length, 2);
  for (const row of result.metrics) {
    assert.type(row["rewards/accuracy/mean"], "number");
    assert.type(row["rewards/levelBonus/mean"], "number");
    assert.is(row["rewards/seesPrompt/mean"], 1);
    assert.ok(Number.isFinite(row.loss), `loss ${row.loss}`);
  }
  assert.ok(result.adapter !== null);
  assert.is(result.adapter!.config.r, 2);
  assert.is(result.adapter!.layers.length, model.config.numHiddenLayers);
});

test("createTrainer().step() twice gives train()'s numbers", async () => {
  const trainer = createTrainer(options);
  assert.is(trainer.state.step, 0);
  await trainer.step();
  const rows = await trainer.step();
  assert.is(rows.length, 1);
  assert.is(trainer.state.step, 2);
  assert.equal(withoutTimes(trainer.metrics), withoutTimes(result.metrics));
  const adapter = await trainer.adapter();
  assert.equal(adapter!.layers[0].q!.B.data, result.adapter!.layers[0].q!.B.data);
});

test("an aborted signal stops after the step in progress", async () => {
  const controller = new AbortController();
  const seen: number[] = [];
  const stopped = await train({
    ...options,
    signal: controller.signal,
    onStep: (row) => {
      seen.push(row.step);
      controller.abort();
    },
  });
  assert.is(stopped.stopped, "aborted");
  assert.equal(seen, [1]);
  assert.is(stopped.state.step, 1);
  assert.is(stopped.metrics.length, 1);
});

test("train() reproduces the CLI's main job numbers for the same config and seed", async () => {
  const out = await mkdtemp(join(tmpdir(), "tina-trainer-cli-"));
  try {
    const flags = ["--steps", "2", "--eval-problems", "1", "--eval-samples", "1"];
    await runProgram("examples/train.ts", [...flags, "--backend", "ts", "--out", out]);
    const cliConfig = JSON.parse(await readFile(join(out, "config.json"), "utf8"));
    const cliRows = (await readFile(join(out, "metrics.jsonl"), "utf8")).trim().split("\n")
      .map((line) => JSON.parse(line));
    // The CLI's main job: the built-in task (its split with 1 held-out problem), task prompt.
    const { train: builtIn } = arithmeticSplits(0, { train: 5000, heldOut: 1 });
    const ours = await train({
      model,
      tokenizer,
      data: builtIn,
      prompt: taskPrompt,
      config: cliConfig,
    });
    assert.is(cliRows.length, 2);
    assert.equal(withoutTimes(ours.metrics), withoutTimes(cliRows));
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test("wrong arguments fail at the entry with a message naming them", async () => {
  const rejects = async (opts: unknown, pattern: RegExp) => {
    try {
      await train(opts as TrainOptions);
    } catch (e) {
      assert.match((e as Error).message, pattern);
      return;
    }
    assert.unreachable(`accepted ${pattern}`);
  };
  await rejects({ ...options, model: dir }, /train: expected a model .*loadModel/);
  await rejects({ ...options, tokenizer: dir }, /tokenizer must be a loaded tokenizer/);
  await rejects({ ...options, data: [] }, /data must be a non-empty array/);
  await rejects({ ...options, data: [{ question: "1+1" }] }, /data\[0\] has no "problem"/);
  await rejects({ ...options, config: { maxSteps: 0, lora: { r: "2" } } }, /maxSteps[\s\S]*lora/);
  await rejects({ ...options, rewards: ["acuracy"] }, /unknown reward "acuracy"/);
  await rejects({ ...options, signal: "stop" }, /signal must be an AbortSignal/);
});

test.run();
