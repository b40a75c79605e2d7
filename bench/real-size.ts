/**
 * A real model directory (e.g. from examples/synth-model.ts) on one backend: greedy decoding
 * with the KV cache at each batch size after a 32-token prompt, and one GRPO + LoRA training step
 * (bench/real_size_work.ts), in tokens/s, with the bytes its tensors hold and the process's peak
 * RSS. bench/compare-pytorch/real_size.py does the same work in PyTorch;
 * bench/compare-pytorch/real_size.sh runs both. Each figure is one timed run. Threads:
 * TINA_THREADS.
 *
 *   npx deno run -A bench/real-size.ts --model DIR [--backend ts]
 *     [--batches 1,8] [--new-tokens 8] [--sequences 4] [--prompt 160] [--completion 16]
 *     [--checkpointing true]
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { loadBackend } from "../lib/tensor/backends.ts";
import { measureRealSize } from "./real_size_work.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    model: { type: "string" },
    backend: { type: "string", default: "ts" },
    batches: { type: "string", default: "1,8" },
    "new-tokens": { type: "string", default: "8" },
    sequences: { type: "string", default: "4" },
    prompt: { type: "string", default: "160" },
    completion: { type: "string", default: "16" },
    checkpointing: { type: "string", default: "true" },
  },
});
const count = (flag: "new-tokens" | "sequences" | "prompt" | "completion"): number => {
  const n = Number(values[flag]);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`real-size: --${flag} must be a positive integer, got ${values[flag]}`);
    process.exit(2);
  }
  return n;
};
if (values.model === undefined) {
  console.error("usage: real-size --model DIR [--backend ts] (see the file's header)");
  process.exit(2);
}
const backend = await loadBackend(values.backend!);
const result = await measureRealSize(values.model, backend, {
  batches: values.batches!.split(",").map(Number),
  newTokens: count("new-tokens"),
  sequences: count("sequences"),
  prompt: count("prompt"),
  completion: count("completion"),
  checkpointing: values.checkpointing === "true",
}, () => performance.now());

const host = globalThis as { Deno?: unknown; Bun?: unknown };
console.log(JSON.stringify({
  side: "ours",
  model: values.model,
  backend: backend.name,
  runtime: host.Deno ? "deno" : host.Bun ? "bun" : "node",
  threads: process.env.TINA_THREADS ?? "default",
  ...result,
  peakRssBytes: process.resourceUsage().maxRSS * 1024, // maxRSS is in KiB
}));
process.exit(0);
