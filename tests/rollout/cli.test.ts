/**
 * examples/train.ts with --rollout: flag mistakes are one-line errors before anything is
 * written; with a built llama-server, a short run through two managed local servers records the
 * engine in summary.json, logs the engine/learner mismatch, keeps the server logs and leaves no
 * server running.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findLlamaServer } from "../../lib/rollout/llama_server.ts";
import { runProcess, runtimeCommand } from "../helpers/runtime.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const train = (args: readonly string[]) => {
  const [cmd, full] = runtimeCommand("examples/train.ts", args);
  return runProcess(cmd, full, root, 600_000);
};

test("flag mistakes: URL without engine, stray engine/servers flags, unknown engine", async () => {
  const out = await mkdtemp(join(tmpdir(), "tina-rollout-cli-"));
  try {
    for (
      const [args, message] of [
        [["--rollout", "http://127.0.0.1:9"], /--rollout URL needs --rollout-engine/],
        [["--rollout-engine", "vllm"], /--rollout-engine needs --rollout/],
        [["--rollout", "http://127.0.0.1:9", "--rollout-engine", "tgi"], /one of vllm, sglang/],
        [["--rollout", "ftp://x", "--rollout-engine", "vllm"], /not an http\(s\) URL/],
        [
          ["--rollout", "http://127.0.0.1:9", "--rollout-engine", "vllm", "--rollout-servers", "2"],
          /apply to --rollout llama.cpp/,
        ],
      ] as const
    ) {
      const dir = join(out, String(args.length));
      const { code, output } = await train([...args, "--out", dir]);
      assert.is.not(code, 0, output);
      assert.match(output, message);
      assert.equal(await readdir(out), [], "nothing written");
    }
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

const binary = findLlamaServer();
(binary ? test : test.skip)(
  "--rollout llama.cpp --rollout-servers 2: summary records the engine; mismatch logged; servers gone",
  async () => {
    const out = await mkdtemp(join(tmpdir(), "tina-rollout-cli-"));
    try {
      const { code, output } = await train([
        "--model",
        "tests/fixtures/qwen2-tiny",
        "--tokenizer",
        "tests/data/char-tokenizer",
        "--data",
        "tests/data/tiny.jsonl",
        "--eval-problems",
        "0",
        "--steps",
        "2",
        "--backend",
        "ts",
        "--config",
        "tests/data/tiny-config.json",
        "--rollout",
        "llama.cpp",
        "--rollout-servers",
        "2",
        "--out",
        out,
      ]);
      assert.is(code, 0, output);
      const summary = JSON.parse(await readFile(join(out, "summary.json"), "utf8"));
      assert.equal(summary.rollout, { engine: "llama.cpp", servers: 2, managed: true });
      const rows = (await readFile(join(out, "metrics.jsonl"), "utf8")).trim().split("\n")
        .map((l) => JSON.parse(l));
      assert.is(rows.length, 2);
      for (const row of rows) {
        assert.ok(row["sampling/sampling_logp_difference/mean"] < 0.05, JSON.stringify(row));
        assert.ok(row.rollout_seconds > 0);
      }
      const files = await readdir(join(out, "llama.cpp"));
      assert.ok(files.includes("base.gguf") && files.includes("llama-server-1.log"), `${files}`);
      const running = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" });
      assert.not.match(running, join(out, "llama.cpp"), "no llama-server outlives the run");
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  },
);

test.run();
