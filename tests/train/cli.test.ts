/**
 * examples/train.ts end to end: the user stories of issue #15 (a custom JSONL teaches the tiny
 * model; a killed run resumes with unchanged and changed flags as the same run; an open-r1
 * YAML recipe runs), refusals that leave the disk untouched, and one-line flag errors.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import {
  appendFile,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  truncate,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runProcess, runtimeCommand } from "../helpers/runtime.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const train = (args: readonly string[]) => {
  const [cmd, full] = runtimeCommand("examples/train.ts", args);
  return runProcess(cmd, full, root, 600_000); // deno --check and a loaded 2-core machine
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

const tmp = () => mkdtemp(join(tmpdir(), "tina-cli-"));
const json = async (path: string) => JSON.parse(await readFile(path, "utf8"));
const exists = (path: string) => stat(path).then(() => true, () => false);

test("story 1: a custom JSONL (question/answer columns) teaches the tiny model (+pass@1)", async () => {
  const out = await tmp();
  try {
    const { code, output } = await train([
      "--data",
      "tests/data/datasets/arith_train.jsonl",
      "--eval-data",
      "tests/data/datasets/arith_eval.jsonl",
      "--steps",
      "24",
      "--eval-samples",
      "2",
      "--out",
      out,
      "--overwrite", // mkdtemp made it; empty, so this only shows the flag is accepted
    ]);
    assert.is(code, 0, output);
    assert.match(output, /recipe demo: chosen for a \d+K-parameter model/);
    assert.match(output, /lr +0\.002 \(cosine_with_min_lr, warm-up 3 steps/);
    assert.match(output, /problem from "question", answer from "answer"/);
    assert.match(
      output,
      /pass@1 [\d.]+ -> [\d.]+ on 40 held-out problems x 2 samples \(temperature 0\.6/,
    );
    const summary = await json(join(out, "summary.json"));
    assert.ok(
      summary.final_pass_at_1 > summary.base_pass_at_1 + 0.05,
      `pass@1 ${summary.base_pass_at_1} -> ${summary.final_pass_at_1}`,
    );
    const run = await json(join(out, "run.json"));
    assert.is(run.recipe, "demo");
    assert.is(run.prompt.style, "task");
    assert.is(run.data.path, "tests/data/datasets/arith_train.jsonl");
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

/** Starts a run and SIGKILLs it once `ready` holds (polled), as a user's kill -9 would. */
const killWhen = (args: readonly string[], ready: () => Promise<boolean>) =>
  new Promise<void>((resolve, reject) => {
    const [cmd, full] = runtimeCommand("examples/train.ts", args);
    const child = spawn(cmd, full, { cwd: root, env: process.env });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const poll = setInterval(async () => {
      if (await ready()) child.kill("SIGKILL");
    }, 50);
    child.on("close", (code, signal) => {
      clearInterval(poll);
      if (signal === "SIGKILL") resolve();
      else reject(new Error(`the run ended by itself (code ${code}) before the kill:\n${output}`));
    });
  });

const QWEN2_TINY = [
  "--model",
  "tests/fixtures/qwen2-tiny",
  "--tokenizer",
  "tests/data/char-tokenizer",
  "--backend",
  "ts",
];

test("story 2: a killed run resumes as the same run, with unchanged and changed flags", async () => {
  const out = await tmp();
  const config = join(out, "..", `${out.split("/").pop()}-config.json`);
  try {
    await writeFile(
      config,
      JSON.stringify({ ...await json("tests/data/tiny-config.json"), checkpointEvery: 2 }),
    );
    await killWhen([
      ...QWEN2_TINY,
      "--data",
      "tests/data/tiny.jsonl",
      "--eval-data",
      "tests/data/tiny.jsonl",
      "--eval-problems",
      "3",
      "--eval-samples",
      "2",
      "--steps",
      "400",
      "--lora-r",
      "3",
      "--config",
      config,
      "--report-every",
      "2",
      "--out",
      out,
    ], () => exists(join(out, "checkpoints", "checkpoint-4")));
    // While the run was live its report was rewritten every 2 steps.
    const live = await readFile(join(out, "report.html"), "utf8");
    assert.match(live, /live: step \d+ of 400/);
    assert.match(live, /<title>[^<]+<\/title>/);
    const before = await json(join(out, "run.json"));
    assert.is(before.train.lora.r, 3);
    assert.is(before.train.lora.alpha, 12, "alpha = 4r from --lora-r");
    // A kill mid-append leaves a torn last line; the newest checkpoint gets damaged too.
    await appendFile(join(out, "metrics.jsonl"), '{"step": 99, "rew');
    const saved = (await readdir(join(out, "checkpoints"))).filter((d) =>
      d.startsWith("checkpoint-")
    )
      .map((d) => Number(d.slice(11))).sort((a, b) => b - a);
    await truncate(
      join(out, "checkpoints", `checkpoint-${saved[0]}`, "adapter_model.safetensors"),
      10,
    );

    // Unchanged: only --resume (and --steps to end it sooner: a changed flag).
    const first = await train(["--resume", out, "--steps", `${saved[0] + 2}`, "--backend", "ts"]);
    assert.is(first.code, 0, first.output);
    assert.match(first.output, /skipping damaged checkpoint .*checkpoint-\d+/);
    assert.match(first.output, /repaired: .*metrics\.jsonl:\d+: torn last line dropped/);
    assert.match(
      first.output,
      new RegExp(`resuming from .*checkpoint-${saved[1]} \\(step ${saved[1]}`),
    );
    const after = await json(join(out, "run.json"));
    assert.equal(after.data, before.data, "data paths kept");
    assert.equal(after.evalData, before.evalData);
    assert.equal(after.train.lora, before.train.lora, "the adapter's shape kept");
    assert.is(after.train.maxSteps, saved[0] + 2);
    const rows = (await readFile(join(out, "metrics.jsonl"), "utf8")).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.equal(rows.map((r) => r.step), Array.from({ length: saved[0] + 2 }, (_, i) => i + 1));
    const summary = await json(join(out, "summary.json"));
    assert.ok(summary.base_pass_at_1 !== null, "base pass@1 kept across the resume");
    assert.is(summary.steps, saved[0] + 2);

    // Changed: more steps, eval settings repeated differently; unchanged: everything else.
    const second = await train([
      "--resume",
      out,
      "--steps",
      `${saved[0] + 4}`,
      "--eval-samples",
      "1",
    ]);
    assert.is(second.code, 0, second.output);
    const final = await json(join(out, "summary.json"));
    assert.is(final.steps, saved[0] + 4);
    assert.is(final.eval_samples_per_problem, 1);
    assert.is(final.base_pass_at_1, summary.base_pass_at_1);
    assert.is(final.config.lora.r, 3);

    // A changed adapter shape cannot continue these checkpoints: refused, nothing written.
    const runJson = await readFile(join(out, "run.json"), "utf8");
    const reshaped = await train(["--resume", out, "--lora-r", "4"]);
    assert.is(reshaped.code, 1, reshaped.output);
    assert.match(reshaped.output, /keeps its adapter's shape/);
    assert.is(await readFile(join(out, "run.json"), "utf8"), runJson);
  } finally {
    await rm(out, { recursive: true, force: true });
    await rm(config, { force: true });
  }
});

test("story 3: an open-r1 style YAML recipe runs", async () => {
  const out = await tmp();
  try {
    const { code, output } = await train([
      "--config",
      "tests/data/recipes/open-r1-tiny.yaml",
      "--eval-data",
      "tests/data/datasets/arith_eval.jsonl",
      "--eval-problems",
      "8",
      "--eval-samples",
      "1",
      "--out",
      out,
    ]);
    assert.is(code, 0, output);
    assert.match(output, /ignored \(TRL\/transformers settings tina-ts does not use\): .*bf16/);
    assert.match(output, /promptsPerStep 2 = per_device_train_batch_size 8/);
    const summary = await json(join(out, "summary.json"));
    assert.is(summary.steps, 4);
    assert.is(summary.config.learningRate, 2e-3);
    assert.is(summary.config.numGenerations, 4);
    assert.equal(summary.config.rewards, [{ name: "accuracy", weight: 2 }, {
      name: "format",
      weight: 1,
    }]);
    assert.ok(await exists(join(out, "checkpoints", "checkpoint-2")), "save_steps 2");
    const run = await json(join(out, "run.json"));
    assert.is(run.data.problemField, "question", "dataset_prompt_column");
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test("every refusal happens before anything is written", async () => {
  const parent = await tmp();
  try {
    const bad = async (name: string, contents: string) => {
      const path = join(parent, name);
      await writeFile(path, contents);
      return path;
    };
    const cases: [string[], RegExp][] = [
      [[
        "--config",
        await bad(
          "a.json",
          '{"rewards": [{"name": "acuracy"}, {"name": "format"}, {"name": "format"}]}',
        ),
      ], /did you mean "accuracy".*\n.*listed twice/s],
      [["--config", await bad("b.json", "null")], /expected a mapping/],
      [
        ["--config", await bad("c.json", '{"lora": {"rank": 2}, "learningRat": 1}')],
        /learningRat[\s\S]*lora\.rank/,
      ],
      [["--rewards", "accuracy,accuracy"], /listed twice/],
      [["--rewards", ""], /empty/],
      [["--rewards", "accuracy:"], /must be a number/],
      [["--rewards", "accuracy:1:2"], /more than one weight/],
      [["--lora-r", "1000000000"], /lora\.r.*1000000000/],
      [["--eval-samples", "1000000000"], /at most 1024/],
      [["--data", await bad("d.jsonl", '{"problem": "p", "answer": ""}\n')], /gold answers parses/],
      [["--prompt", await bad("p.txt", "no placeholder")], /no \{problem\} placeholder/],
      [
        [
          "--prompt",
          "paper",
          "--data",
          "tests/data/datasets/arith_train.jsonl",
          "--eval-data",
          "tests/data/datasets/arith_eval.jsonl",
        ],
        /cannot write "'" "\$" .*\n.*evaluation prompts up to \d+ tokens \(paper prompt\) \+ 48 new tokens exceed the model's 256 positions/s,
      ],
    ];
    for (const [args, pattern] of cases) {
      const out = join(parent, "out");
      const { code, output } = await train([...args, "--out", out]);
      assert.ok(code === 1 || code === 2, `${args}: exit ${code}\n${output}`);
      assert.match(output, pattern, `${args}`);
      assert.not.ok(await exists(out), `${args}: --out was created`);
    }
    // --out holding another run: refused without --resume or --overwrite, and left as it was.
    const held = join(parent, "held");
    await train([
      ...QWEN2_TINY,
      "--data",
      "tests/data/tiny.jsonl",
      "--config",
      "tests/data/tiny-config.json",
      "--steps",
      "1",
      "--out",
      held,
    ]);
    const config = await readFile(join(held, "config.json"), "utf8");
    const again = await train(["--steps", "3", "--out", held]);
    assert.is(again.code, 1);
    assert.match(again.output, /holds another run.*--resume.*--overwrite/);
    assert.is(await readFile(join(held, "config.json"), "utf8"), config);
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
});

test("a run without evaluation data prints no pass@1 line; counts read '1 step'", async () => {
  const out = await tmp();
  try {
    const { code, output } = await train([
      ...QWEN2_TINY,
      "--data",
      "tests/data/tiny.jsonl",
      "--config",
      "tests/data/tiny-config.json",
      "--steps",
      "1",
      "--out",
      out,
      "--overwrite",
    ]);
    assert.is(code, 0, output);
    assert.not.match(output, /pass@1/);
    assert.match(output, /no evaluation \(no --eval-data\)/);
    assert.match(output, /; 1 step in /);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test.run();
