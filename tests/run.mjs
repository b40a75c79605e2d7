#!/usr/bin/env node
// Runs every tests/**/*.test.ts as a uvu script under each runtime (deno and bun do not
// discover uvu files themselves), sums uvu's counts and ends with "N passed, N failed".
// Usage: node tests/run.mjs [filter...]   env: TINA_RUNTIMES=deno,bun,node  TINA_JOBS=2
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = (name) => join(root, "node_modules", ".bin", name);
const commands = {
  deno: (f) => [bin("deno"), ["run", "-A", "--unstable-webgpu", f]],
  bun: (f) => [bin("bun"), [f]],
  node: (f) => [process.execPath, ["--import", "tsx", f]],
};
const runtimes = (process.env.TINA_RUNTIMES ?? "deno,bun,node").split(",").filter(Boolean);
const jobs = Number(process.env.TINA_JOBS ?? 2);
const filters = process.argv.slice(2);

const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (name === "fixtures") return [];
    return statSync(p).isDirectory() ? walk(p) : p.endsWith(".test.ts") ? [p] : [];
  });
const files = walk(join(root, "tests")).sort()
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));

// deno-lint-ignore no-control-regex
const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, "");
const count = (out, label) =>
  Number(strip(out).match(new RegExp(`${label}:\\s+(\\d+)`))?.[1] ?? NaN);

const runOne = (runtime, file) =>
  new Promise((resolve) => {
    const [cmd, args] = commands[runtime](file);
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, TINA_RUNTIME: runtime } });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code) => {
      const total = count(out, "Total");
      const passed = count(out, "Passed");
      const skipped = count(out, "Skipped") || 0;
      const name = `${runtime.padEnd(4)} ${relative(root, file)}`;
      if (Number.isNaN(total) || Number.isNaN(passed)) {
        resolve({ name, passed: 0, failed: 1, skipped: 0, out, code });
      } else {
        // uvu's Total counts the tests that ran; skipped ones are counted apart.
        const failed = total - passed + (code !== 0 && total === passed ? 1 : 0);
        resolve({ name, passed, failed, skipped, out, code });
      }
    });
  });

// Static checks count as tests too, so CI's last line covers them (TINA_STATIC=0 skips).
const staticChecks = process.env.TINA_STATIC === "0" || filters.length > 0 ? [] : [
  ["deno check", ["check", "mod.ts", "lib", "examples", "bench", "tests"]],
  ["deno lint", ["lint"]],
  ["deno fmt --check", ["fmt", "--check"]],
];
const runCheck = ([name, args]) =>
  new Promise((resolve) => {
    const child = spawn(bin("deno"), args, { cwd: root, env: process.env });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code) =>
      resolve({
        name,
        passed: code === 0 ? 1 : 0,
        failed: code === 0 ? 0 : 1,
        skipped: 0,
        out,
        code,
      }));
  });

const queue = runtimes.flatMap((r) => files.map((f) => [r, f]));
const results = [];
for (const check of staticChecks) {
  const res = await runCheck(check);
  console.log(`${res.failed ? "FAIL" : "ok  "} ${res.name}`);
  if (res.failed) {
    console.log(strip(res.out).split("\n").slice(-40).map((l) => "    " + l).join("\n"));
  }
  results.push(res);
}
const worker = async () => {
  while (queue.length > 0) {
    const [r, f] = queue.shift();
    const started = Date.now();
    const res = await runOne(r, f);
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      `${
        res.failed ? "FAIL" : "ok  "
      } ${res.name}  ${res.passed} passed, ${res.failed} failed (${secs}s)`,
    );
    if (res.failed) console.log(strip(res.out).split("\n").map((l) => "    " + l).join("\n"));
    results.push(res);
  }
};
await Promise.all(Array.from({ length: jobs }, worker));
const passed = results.reduce((s, r) => s + r.passed, 0);
const failed = results.reduce((s, r) => s + r.failed, 0);
const skipped = results.reduce((s, r) => s + r.skipped, 0);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
