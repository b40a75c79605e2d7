// README's "Use it as a library" section is executed as written (with `tina-ts` pointing at this
// checkout's mod.ts), on the runtime running this file, in a scratch directory.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const root = fileURLToPath(new URL("../..", import.meta.url));
const runtime = process.env.TINA_RUNTIME ?? "node";
const bin = (name: string) => join(root, "node_modules", ".bin", name);

/** The TypeScript blocks of one README section, in order. */
const sectionCode = (readme: string, heading: string): string => {
  const start = readme.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README.md: no "## ${heading}" section`);
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]).join("\n");
};

test("README 'Use it as a library' runs: generate, rewards, train, save, load, merge", async () => {
  const code = sectionCode(await readFile(join(root, "README.md"), "utf8"), "Use it as a library");
  assert.match(code, /from "tina-ts"/);
  const work = await mkdtemp(join(tmpdir(), "tina-readme-"));
  try {
    // An ES module, as in a user's project.
    await writeFile(join(work, "package.json"), JSON.stringify({ type: "module" }));
    const script = join(work, "readme.ts");
    await writeFile(script, code.replaceAll(`from "tina-ts"`, `from "${join(root, "mod.ts")}"`));
    const [cmd, args] = runtime === "deno"
      ? [bin("deno"), ["run", "-A", `--config=${join(root, "deno.json")}`, script]]
      : runtime === "bun"
      ? [bin("bun"), [script]]
      : ["node", ["--import", join(root, "node_modules", "tsx", "dist", "loader.mjs"), script]];
    const { stdout } = await promisify(execFile)(cmd, args, { cwd: work, maxBuffer: 64 << 20 });
    // The onStep lines of the two training steps, and the adapter written in PEFT's layout.
    assert.match(stdout, /^step 1 reward [\d.]+/m);
    assert.match(stdout, /^step 2 reward [\d.]+/m);
    await stat(join(work, "my-adapter", "adapter_config.json"));
    await stat(join(work, "my-adapter", "adapter_model.safetensors"));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test.run();
