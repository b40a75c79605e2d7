// The API reference: the HTML build works and documents the entry points, and the public
// symbols still missing documentation (`deno doc --lint mod.ts`) do not grow past the count
// recorded here (lower it as docs are written; 0 is the goal).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const UNDOCUMENTED_AT_MOST = 0;

const root = fileURLToPath(new URL("../..", import.meta.url));
const deno = join(root, "node_modules", ".bin", "deno");
const entries = ["mod.ts", "lib/rewards/mod.ts", "lib/train/mod.ts", "lib/io/mod.ts"];

/** stdout and stderr together, whatever the exit code (doc --lint exits 1 on findings). */
const output = (args: readonly string[]): Promise<string> =>
  new Promise((resolve) =>
    execFile(
      deno,
      [...args],
      { cwd: root, maxBuffer: 64 << 20, env: { ...process.env, NO_COLOR: "1" } },
      (_, stdout, stderr) => resolve(`${stdout}${stderr}`),
    )
  );

test("deno doc --html builds the reference with the trainer and rewards in it", async () => {
  const out = await mkdtemp(join(tmpdir(), "tina-docs-"));
  try {
    const log = await output(["doc", "--html", "--name=tina-ts", `--output=${out}`, ...entries]);
    assert.match(log, /Written \d+ files/);
    const index = await readFile(join(out, "index.html"), "utf8");
    assert.match(index, /tina-ts/);
    const all = await readFile(join(out, "all_symbols.html"), "utf8");
    for (const name of ["train", "createTrainer", "combineRewards", "trlReward", "TrainConfig"]) {
      assert.match(all, new RegExp(`>${name}<`), name);
    }
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test(`deno doc --lint mod.ts: at most ${UNDOCUMENTED_AT_MOST} problems`, async () => {
  const report = await output(["doc", "--lint", "mod.ts"]);
  const problems = [...report.matchAll(/^error\[([a-z-]+)\]/gm)].map((m) => m[1]);
  const byKind = problems.reduce<Record<string, number>>(
    (counts, kind) => ({ ...counts, [kind]: (counts[kind] ?? 0) + 1 }),
    {},
  );
  assert.ok(
    problems.length <= UNDOCUMENTED_AT_MOST,
    `${problems.length} problems (${JSON.stringify(byKind)}); document the new exports`,
  );
});

test.run();
