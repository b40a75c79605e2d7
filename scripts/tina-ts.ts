#!/usr/bin/env node
/**
 * The package's command: `npx tina-ts train|eval|pretrain|synth-model [flags]` runs the example
 * program of that name with the remaining flags (`npx tina-ts train --help` lists them).
 * @module
 */
import process from "node:process";

const programs: Readonly<Record<string, () => Promise<unknown>>> = {
  train: () => import("../examples/train.ts"),
  eval: () => import("../examples/eval.ts"),
  pretrain: () => import("../examples/pretrain.ts"),
  "synth-model": () => import("../examples/synth-model.ts"),
};

const usage = `Usage: tina-ts <command> [flags]
Commands: ${Object.keys(programs).join(", ")}  (tina-ts <command> --help for its flags)`;

const [command, ...rest] = process.argv.slice(2);
if (command === undefined || command === "--help" || command === "-h") {
  console.log(usage);
} else if (!Object.hasOwn(programs, command)) {
  console.error(`tina-ts: unknown command "${command}"\n${usage}`);
  process.exitCode = 2;
} else {
  // Each program reads its flags from process.argv, as when started on its own.
  process.argv = [process.argv[0], command, ...rest];
  await programs[command]();
}
