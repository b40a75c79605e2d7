/**
 * A real model directory (e.g. from examples/synth-model.ts) on one backend: greedy decoding
 * with the KV cache at each batch size after a 32-token prompt, and one GRPO + LoRA training step
 * (reference log-probs, policy forward and backward to LoRA r 32 on all seven projections,
 * clipping, AdamW, as the trainer's), in tokens/s, with the bytes its tensors hold and the
 * process's peak RSS. bench/compare-pytorch/real_size.py does the same work in PyTorch;
 * bench/compare-pytorch/real_size.sh runs both. Each figure is one timed run. Threads:
 * TINA_THREADS.
 *
 *   npx deno run -A bench/real-size.ts --model DIR [--backend ts]
 *     [--batches 1,8] [--new-tokens 8] [--sequences 4] [--prompt 160] [--completion 16]
 *     [--checkpointing true]
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { valueAndGrad } from "../lib/autodiff/grad.ts";
import { stopGradient } from "../lib/autodiff/ops.ts";
import { scope, tensor, toArray } from "../lib/autodiff/tensor.ts";
import { initLora, type LoraWeights } from "../lib/model/decoder.ts";
import { loadModel } from "../lib/model/load.ts";
import { adamw, applyUpdates, chain, clipByGlobalNorm } from "../lib/optim/mod.ts";
import { foldIn, normal, prngKey, uniform } from "../lib/random/prng.ts";
import { grpoLoss } from "../lib/rl/mod.ts";
import { generateFromParams } from "../lib/sampling/generate.ts";
import { loadBackend } from "../lib/tensor/backends.ts";
import { meteredBackend } from "../lib/tensor/metered.ts";
import { completionLogProbs } from "../lib/train/completion_logprobs.ts";
import { packBatch } from "../lib/train/sequences.ts";

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
if (values.model === undefined) {
  console.error("usage: real-size --model DIR [--backend ts] (see the file's header)");
  process.exit(2);
}
const count = (flag: keyof typeof values) => Number(values[flag]);
const key = prngKey(0);
const { backend, meter } = meteredBackend(await loadBackend(values.backend!));
let started = performance.now();
const model = await loadModel(values.model, { backend });
const loadSeconds = (performance.now() - started) / 1000;
const weightBytes = meter.live();
const cfg = model.config;
const randomIds = (k: number, rows: number, width: number) =>
  Array.from(
    { length: rows },
    (_, r) =>
      Array.from(uniform(foldIn(foldIn(key, k), r), width), (u) =>
        Math.floor(u * Math.min(cfg.vocabSize, 1000))),
  );

const decode: Record<string, number> = {};
for (const batch of values.batches!.split(",").map(Number)) {
  const newTokens = count("new-tokens");
  started = performance.now();
  await generateFromParams(cfg, model.params, randomIds(1, batch, 32), {
    maxNewTokens: newTokens,
    stopTokens: [],
    padToken: 0,
    key,
    temperature: 0,
  });
  decode[`batch${batch}`] = (batch * newTokens) / ((performance.now() - started) / 1000);
}

const sequences = count("sequences");
const [promptLength, completionLength] = [count("prompt"), count("completion")];
const batch = packBatch(
  randomIds(2, sequences, promptLength),
  randomIds(3, sequences, completionLength + 1),
  0,
);
const rows = batch.ids.map((_, i) => i);
const mask = tensor(backend, new Float32Array(sequences * (completionLength + 1)).fill(1), [
  sequences,
  completionLength + 1,
]);
const advantages = tensor(backend, normal(foldIn(key, 4), sequences), [sequences]);
const weights = initLora(backend, cfg, foldIn(key, 5), 32);
const optimizer = chain(clipByGlobalNorm(1), adamw({ lr: 1e-6 }));
const gradientCheckpointing = values.checkpointing === "true";
meter.resetPeak();
started = performance.now();
const refLogp = scope(() =>
  stopGradient(
    completionLogProbs(cfg, { params: model.params, adapter: null }, batch, rows, 1, true).logp,
  )
);
const { value, grads } = valueAndGrad((w: LoraWeights) => {
  const policy = { params: model.params, adapter: { weights: w, scaling: 4 } };
  const { logp } = completionLogProbs(cfg, policy, batch, rows, 1, gradientCheckpointing);
  return grpoLoss({ logp, oldLogp: null, refLogp, advantages, mask }, {
    lossType: "grpo",
    delta: null,
    beta: 0.04,
    epsilonLow: 0.2,
    epsilonHigh: 0.2,
    maxCompletionLength: completionLength + 1,
  }).loss;
})(weights);
const { updates } = optimizer.update(grads, optimizer.init(weights), weights);
const next = scope(() => applyUpdates(weights, updates));
await toArray(next.layers[0].q!.A);
const stepSeconds = (performance.now() - started) / 1000;
value.dispose();

const host = globalThis as { Deno?: unknown; Bun?: unknown };
console.log(JSON.stringify({
  side: "ours",
  model: values.model,
  backend: backend.name,
  runtime: host.Deno ? "deno" : host.Bun ? "bun" : "node",
  threads: process.env.TINA_THREADS ?? "default",
  dtype: cfg.dtype,
  loadSeconds: Number(loadSeconds.toFixed(1)),
  weightBytes,
  decodeTokensPerSecond: Object.fromEntries(
    Object.entries(decode).map(([k, v]) => [k, Number(v.toFixed(2))]),
  ),
  trainStep: {
    sequences,
    tokens: sequences * (promptLength + completionLength),
    gradientCheckpointing,
    seconds: Number(stepSeconds.toFixed(1)),
    tokensPerSecond: Number(
      (sequences * (promptLength + completionLength) / stepSeconds).toFixed(2),
    ),
    peakTensorBytes: meter.peak(),
  },
  peakRssBytes: process.resourceUsage().maxRSS * 1024, // maxRSS is in KiB
}));
process.exit(0);
