/** Running a TypeScript program as a subprocess on the runtime the current test runs on. */
import { spawn } from "node:child_process";

/** The command that runs a TypeScript file on this runtime (tests/run.mjs sets TINA_RUNTIME). */
export const runtimeCommand = (file: string, args: readonly string[] = []): [string, string[]] => {
  const runtime = process.env.TINA_RUNTIME ??
    ("Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node");
  if (runtime === "deno") return [process.execPath, ["run", "-A", "--check", file, ...args]];
  if (runtime === "bun") return [process.execPath, [file, ...args]];
  return [process.execPath, ["--import", "tsx", file, ...args]];
};

/** Runs a command to completion, collecting stdout and stderr together. */
export const runProcess = (cmd: string, args: readonly string[], cwd: string, timeoutMs: number) =>
  new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(cmd, args, { cwd, timeout: timeoutMs, env: process.env });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("close", (code) => resolve({ code, output }));
  });
