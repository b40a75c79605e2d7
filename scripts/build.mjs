#!/usr/bin/env node
// The npm build: ESM JavaScript + .d.ts from the TypeScript sources (tsc), the tiny model beside
// them so the main job runs from the package. `node scripts/build.mjs` writes ./dist (what
// `npm pack` ships; it runs as prepack); `--out DIR` stages a whole package in DIR instead
// (dist/ + package.json, LICENSE, README.md), for tests that pack without touching ./dist.
import { spawnSync } from "node:child_process";
import { chmod, cp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = fileURLToPath(new URL("..", import.meta.url));
const { values } = parseArgs({ options: { out: { type: "string" } } });
const out = resolve(values.out ?? root);
const dist = join(out, "dist");

await rm(dist, { recursive: true, force: true });
const tsc = spawnSync(
  join(root, "node_modules", ".bin", "tsc"),
  ["-p", join(root, "scripts", "tsconfig.build.json"), "--outDir", dist],
  { stdio: "inherit" },
);
if (tsc.status !== 0) {
  console.error(`build: tsc failed (exit ${tsc.status ?? tsc.signal})`);
  process.exit(1);
}

// tsc rewrites "./x.ts" to "./x.js" in JavaScript but keeps it in declarations; Deno reads the
// specifier literally, so declarations get the .js names too.
const relativeTs = /((?:from|import)\s*\(?\s*)(["'])(\.{1,2}\/[^"']+)\.ts\2/g;
const files = await readdir(dist, { recursive: true });
for (const file of files.filter((f) => f.endsWith(".d.ts")).map((f) => join(dist, f))) {
  const text = await readFile(file, "utf8");
  const fixed = text.replace(relativeTs, "$1$2$3.js$2");
  if (fixed !== text) await writeFile(file, fixed);
}

await cp(join(root, "models", "tiny-arith"), join(dist, "models", "tiny-arith"), {
  recursive: true,
});
await chmod(join(dist, "scripts", "tina-ts.js"), 0o755);
if (out !== resolve(root)) {
  for (const name of ["package.json", "LICENSE", "README.md"]) {
    await cp(join(root, name), join(out, name));
  }
}
console.error(`build: wrote ${dist}`);
