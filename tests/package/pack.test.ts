// The packages as a user gets them: build, `npm pack`, install the tarball into a scratch
// project (npm's cache first, the registry only for what it lacks), then import it and run 2
// GRPO steps on the shipped tiny model with the tfjs-wasm backend, from the runtime running this
// file: plain Node (compiled JS, no tsx), Bun, or Deno (`npm:tina-ts`, and the sources as a
// linked JSR package). Under Deno also `deno publish --dry-run` and `deno doc --lint`.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const root = fileURLToPath(new URL("../..", import.meta.url));
const runtime = process.env.TINA_RUNTIME ?? "node";
const bin = (name: string) => join(root, "node_modules", ".bin", name);
const run = async (cmd: string, args: readonly string[], cwd: string): Promise<string> => {
  try {
    const { stdout } = await promisify(execFile)(cmd, [...args], {
      cwd,
      maxBuffer: 64 << 20,
      env: { ...process.env, NO_COLOR: "1" },
    });
    return stdout;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `${cmd} ${args.join(" ")} failed: ${err.message}\n${err.stdout}\n${err.stderr}`,
    );
  }
};

const work = await mkdtemp(join(tmpdir(), `tina-pack-${runtime}-`));
const scratch = join(work, "scratch");

// The consumer: what a user's first script looks like. SPECIFIER is the import to test.
const consumer = (specifier: string) => `
import { arithmeticSplits, loadModel, loadTokenizer, taskPrompt, tinyModelDir, train } from "${specifier}";
import { combineRewards } from "${specifier}/rewards";

const dir = tinyModelDir();
const model = await loadModel(dir, { backend: "tfjs-wasm" });
const tokenizer = await loadTokenizer(dir);
const { train: data } = arithmeticSplits(0, { train: 32, heldOut: 0 });
const brief = (completion) => (completion.length < 30 ? 1 : 0);
const result = await train({
  model, tokenizer, data, prompt: taskPrompt,
  rewards: ["accuracy", brief],
  config: { maxSteps: 2, promptsPerStep: 2, numGenerations: 4, gradientAccumulationSteps: 1,
    maxPromptLength: 64, maxCompletionLength: 16, lora: { r: 2, alpha: 8, dropout: 0 } },
});
console.log(JSON.stringify({
  steps: result.state.step,
  backend: model.backend.name,
  metrics: Object.keys(result.metrics.at(-1)).filter((k) => k.startsWith("rewards/")),
  layers: result.adapter.layers.length,
  combine: typeof combineRewards,
}));
process.exit(0);
`;

const checkRun = (stdout: string) => {
  const out = JSON.parse(stdout.trim().split("\n").at(-1)!);
  assert.is(out.steps, 2);
  assert.is(out.backend, "tfjs-wasm");
  assert.ok(out.metrics.includes("rewards/accuracy/mean"), out.metrics.join());
  assert.ok(out.metrics.includes("rewards/brief/mean"), out.metrics.join());
  assert.ok(out.layers > 0);
  assert.is(out.combine, "function");
};

test("npm pack ships the compiled package, the tiny model and LICENSE, nothing else", async () => {
  await run("node", [join(root, "scripts", "build.mjs"), "--out", join(work, "stage")], root);
  const [packed] = JSON.parse(
    await run("npm", [
      "pack",
      join(work, "stage"),
      "--ignore-scripts",
      "--json",
      "--pack-destination",
      work,
    ], work),
  );
  const files: string[] = packed.files.map((f: { path: string }) => f.path);
  for (
    const needed of [
      "LICENSE",
      "package.json",
      "dist/mod.js",
      "dist/mod.d.ts",
      "dist/lib/rewards/mod.js",
      "dist/scripts/tina-ts.js",
      "dist/models/tiny-arith/model.safetensors",
      "dist/models/tiny-arith/tokenizer.json",
    ]
  ) assert.ok(files.includes(needed), `missing ${needed}`);
  const stray = files.filter((f) =>
    !/^(LICENSE|README\.md|package\.json|dist\/.*\.(js|d\.ts)|dist\/models\/tiny-arith\/.*)$/.test(
      f,
    )
  );
  assert.equal(stray, []);
  assert.ok(packed.size < 2_000_000, `tarball is ${packed.size} bytes`);
  const declarations = await readFile(join(work, "stage", "dist", "mod.d.ts"), "utf8");
  assert.not.match(declarations, /from "\.[^"]*\.ts"/, "declarations import .ts files");

  await run("mkdir", ["-p", scratch], work);
  await writeFile(
    join(scratch, "package.json"),
    JSON.stringify({ name: "scratch", private: true, type: "module" }),
  );
  await run("npm", [
    "install",
    join(work, packed.filename),
    "--prefer-offline",
    "--no-audit",
    "--no-fund",
  ], scratch);
});

if (runtime === "node") {
  test("plain Node imports the compiled package and trains; the bin answers", async () => {
    await writeFile(join(scratch, "consumer.mjs"), consumer("tina-ts"));
    checkRun(await run("node", ["consumer.mjs"], scratch));
    const usage = await run(join(scratch, "node_modules", ".bin", "tina-ts"), ["--help"], scratch);
    assert.match(usage, /train, eval, pretrain, synth-model/);
    const trainHelp = await run(join(scratch, "node_modules", ".bin", "tina-ts"), [
      "train",
      "--help",
    ], scratch);
    assert.match(trainHelp, /--steps/);
  });
}

if (runtime === "bun") {
  test("Bun imports the package and trains", async () => {
    await writeFile(join(scratch, "consumer.mjs"), consumer("tina-ts"));
    checkRun(await run(bin("bun"), ["consumer.mjs"], scratch));
  });
}

if (runtime === "deno") {
  test("Deno imports npm:tina-ts and trains", async () => {
    await writeFile(join(scratch, "consumer.mjs"), consumer("npm:tina-ts"));
    checkRun(await run(bin("deno"), ["run", "-A", "consumer.mjs"], scratch));
  });

  test("deno publish --dry-run: no slow types, nothing but the library, its model and LICENSE", async () => {
    // Deno prints its report on stderr: merge the streams to read it.
    const report = await run(
      "sh",
      ["-c", `"${bin("deno")}" publish --dry-run --allow-dirty 2>&1`],
      root,
    );
    assert.match(report, /Success Dry run complete/);
    assert.not.match(report, /warning|error/i);
    const files = [...report.matchAll(/file:\/\/\S+/g)].map((m) =>
      m[0].slice(`file://${root}`.length)
    );
    assert.ok(files.includes("LICENSE") && files.includes("mod.ts"), files.join(" "));
    const stray = files.filter((f) =>
      !/^(LICENSE|README\.md|deno\.json|mod\.ts|lib\/.*\.ts|models\/tiny-arith\/.*)$/.test(f)
    );
    assert.equal(stray, []);
  });

  test("Deno imports the sources as a linked JSR package and trains", async () => {
    const jsr = join(work, "jsr");
    await run("mkdir", ["-p", jsr], work);
    const { name } = JSON.parse(await readFile(join(root, "deno.json"), "utf8"));
    await writeFile(
      join(jsr, "deno.json"),
      JSON.stringify({
        imports: { "tina-ts": `jsr:${name}@*`, "tina-ts/rewards": `jsr:${name}@*/rewards` },
        links: [root],
        nodeModulesDir: "manual",
      }),
    );
    // The npm packages the sources import come from the scratch install, not the network.
    await run("ln", ["-s", join(scratch, "node_modules"), join(jsr, "node_modules")], jsr);
    await writeFile(join(jsr, "consumer.ts"), consumer("tina-ts"));
    checkRun(await run(bin("deno"), ["run", "-A", "consumer.ts"], jsr));
  });
}

test("clean up", async () => {
  await rm(work, { recursive: true, force: true });
});

test.run();
