/**
 * Builds the shipped tiny base model: a Qwen2-architecture LM trained from scratch, by
 * supervised fine-tuning, on the built-in arithmetic task — deterministic from its seed.
 *
 * It is imperfect on purpose, so RL has room to show: a share of its training completions
 * (`--sloppy`) end with a bare answer instead of `<answer>…</answer>`, so the model often gets
 * the format wrong, and the step budget leaves its arithmetic unreliable when sampled.
 *
 *   deno run -A examples/pretrain.ts [--out models/tiny-arith] [--steps 1200] ...
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { valueAndGrad } from "../lib/autodiff/grad.ts";
import { scope, toArray } from "../lib/autodiff/tensor.ts";
import { arithmeticSplits, type Example } from "../lib/data/mod.ts";
import { taskPrompt } from "../lib/data/prompt.ts";
import { encodeModelConfig, type ModelConfig } from "../lib/io/hf_config.ts";
import { writeFileAtomic } from "../lib/io/atomic.ts";
import { writeSafetensors } from "../lib/io/safetensors.ts";
import { type DecoderParams, initParams } from "../lib/model/decoder.ts";
import { familySwitches } from "../lib/families.ts";
import { weightsFromParams } from "../lib/model/weights.ts";
import {
  adamw,
  applyUpdates,
  chain,
  clipByGlobalNorm,
  cosineWithWarmup,
} from "../lib/optim/mod.ts";
import { disposeReplaced } from "../lib/optim/transform.ts";
import { foldIn, prngKey, uniform } from "../lib/random/prng.ts";
import { loadBackend } from "../lib/tensor/backends.ts";
import { backendNames } from "../lib/tensor/kernels.ts";
import { defaultTaskTokenizer } from "../lib/tokenizer/char.ts";
import { saveTokenizer } from "../lib/tokenizer/load.ts";
import { sftBatch, sftLoss } from "../lib/train/sft.ts";
import { shuffledStream } from "../lib/train/stream.ts";
import { choiceFlag, integerFlag, numberFlag, parseFlags, progressBar, runMain } from "./cli.ts";

const USAGE = `Usage: pretrain [options]   (supervised training of the tiny base model)
  --out DIR          where to write the Hugging Face model directory (default models/tiny-arith)
  --steps N          optimizer steps (default 1200)
  --batch N          sequences per step (default 64)
  --lr X             peak learning rate (default 3e-3; cosine decay, 5% warmup)
  --sloppy X         share of training completions without <answer> tags (default 0.4)
  --train-size N     distinct training problems (default 20000)
  --seed N           everything random derives from it (default 0)
  --backend NAME     ${backendNames.join(" | ")} (default tfjs-wasm)
  --help`;

const OPTIONS = {
  out: { type: "string" },
  steps: { type: "string" },
  batch: { type: "string" },
  lr: { type: "string" },
  sloppy: { type: "string" },
  "train-size": { type: "string" },
  seed: { type: "string" },
  backend: { type: "string" },
  help: { type: "boolean" },
} as const;

interface Settings {
  readonly out: string;
  readonly steps: number;
  readonly batch: number;
  readonly lr: number;
  readonly sloppy: number;
  readonly trainSize: number;
  readonly seed: number;
  readonly backend: string;
}

const parse = (argv: readonly string[]): Settings | null => {
  const v = parseFlags(argv, OPTIONS);
  if (v.help) {
    console.log(USAGE);
    return null;
  }
  return {
    out: v.out ?? "models/tiny-arith",
    steps: integerFlag("steps", v.steps, 1) ?? 1200,
    batch: integerFlag("batch", v.batch, 1) ?? 64,
    lr: numberFlag("lr", v.lr, (x) => x > 0, "a positive number") ?? 3e-3,
    sloppy: numberFlag("sloppy", v.sloppy, (x) => x >= 0 && x <= 1, "a number in [0, 1]") ?? 0.4,
    trainSize: integerFlag("train-size", v["train-size"], 1) ?? 20000,
    seed: integerFlag("seed", v.seed, 0) ?? 0,
    backend: choiceFlag("backend", v.backend, backendNames) ?? "tfjs-wasm",
  };
};

/** The tiny architecture: about 0.2M parameters, small enough to train and RL on a laptop CPU. */
const tinyConfig = (vocabSize: number, bos: number, eos: number): ModelConfig => ({
  architecture: "Qwen2ForCausalLM",
  vocabSize,
  hiddenSize: 64,
  intermediateSize: 192,
  numHiddenLayers: 4,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  headDim: 16,
  rmsNormEps: 1e-6,
  ropeTheta: 10000,
  ropeScaling: null,
  tieWordEmbeddings: true,
  ...familySwitches("Qwen2ForCausalLM"),
  maxPositionEmbeddings: 256,
  dtype: "float32",
  bosTokenId: bos,
  eosTokenIds: [eos],
});

/** The same reasoning with a bare final answer: the format mistake RL should train away. */
export const sloppyCompletion = (solution: string): string =>
  solution.replace(/\n<answer>\n([^\n]*)\n<\/answer>$/, "\n$1");

const run = async (s: Settings): Promise<void> => {
  const backend = await loadBackend(s.backend);
  const tokenizer = defaultTaskTokenizer();
  const cfg = tinyConfig(tokenizer.vocabSize, tokenizer.bosTokenId!, tokenizer.eosTokenId);
  const key = prngKey(s.seed);
  const { train } = arithmeticSplits(s.seed, { train: s.trainSize, heldOut: 500 });
  const sloppyDraw = uniform(foldIn(key, 1), train.length);
  const encoded = train.map((ex: Example, i) => ({
    prompt: tokenizer.encode(
      tokenizer.applyChatTemplate(taskPrompt(ex), { addGenerationPrompt: true }),
    ),
    completion: [
      ...tokenizer.encode(sloppyDraw[i] < s.sloppy ? sloppyCompletion(ex.solution) : ex.solution),
      tokenizer.eosTokenId,
    ],
  }));
  const batchAt = shuffledStream(encoded, foldIn(key, 2));
  let params: DecoderParams = initParams(backend, cfg, foldIn(key, 3));
  const optimizer = chain(
    clipByGlobalNorm(1),
    adamw({
      lr: cosineWithWarmup({
        peak: s.lr,
        warmupSteps: Math.ceil(s.steps / 20),
        totalSteps: s.steps,
        minRatio: 0.1,
      }),
      weightDecay: 0.01,
    }),
  );
  let optState = optimizer.init(params);
  const bar = progressBar("pretrain", ["loss"]);
  bar.start(s.steps);
  let smoothed = NaN;
  for (let step = 0; step < s.steps; step++) {
    const rows = batchAt(step * s.batch, s.batch);
    const batch = sftBatch(
      rows.map((r) => r.prompt),
      rows.map((r) => r.completion),
      tokenizer.padTokenId,
      tokenizer.eosTokenId,
    );
    const { value, grads } = valueAndGrad((p: DecoderParams) =>
      sftLoss(cfg, { params: p, adapter: null }, batch)
    )(params);
    const next = optimizer.update(grads, optState, params);
    const newParams = scope(() => applyUpdates(params, next.updates));
    disposeReplaced(params, newParams);
    disposeReplaced(optState, next.state);
    disposeReplaced(grads, null);
    disposeReplaced(next.updates, null);
    for (const t of [value]) {
      const loss = (await toArray(t))[0];
      smoothed = Number.isNaN(smoothed) ? loss : 0.95 * smoothed + 0.05 * loss;
      t.dispose();
    }
    params = newParams;
    optState = next.state;
    bar.update(step + 1, { loss: smoothed.toFixed(4) });
  }
  bar.stop();
  await mkdir(s.out, { recursive: true });
  await writeFileAtomic(
    join(s.out, "config.json"),
    JSON.stringify(encodeModelConfig(cfg), null, 2) + "\n",
  );
  await writeSafetensors(join(s.out, "model.safetensors"), await weightsFromParams(cfg, params), {
    metadata: {
      format: "pt",
      producer: `tina-ts examples/pretrain.ts seed=${s.seed} steps=${s.steps}`,
    },
  });
  await saveTokenizer(s.out, tokenizer);
  console.log(`wrote ${s.out} (final smoothed loss ${smoothed.toFixed(4)})`);
};

await runMain("pretrain", parse, run);
