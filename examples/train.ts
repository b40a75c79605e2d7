/**
 * The main job: GRPO + LoRA post-training, Tina's recipe, on any Hugging Face Qwen2 model
 * directory and JSONL dataset — by default the shipped tiny model on the built-in arithmetic
 * task, which it measurably teaches to reason in a few CPU minutes.
 *
 *   deno run -A examples/train.ts                 # the built-in demo
 *   deno run -A examples/train.ts --help          # every flag
 *
 * Writes metrics.jsonl, checkpoints/, the final PEFT adapter, evaluations before and after,
 * report.html and summary.json into --out.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isLeft } from "fp-ts/lib/Either.js";
import { isTensor } from "../lib/autodiff/grad.ts";
import { toArray } from "../lib/autodiff/tensor.ts";
import { arithmeticSplits, type JsonlExample, readJsonl } from "../lib/data/mod.ts";
import { taskPrompt } from "../lib/data/prompt.ts";
import { type EvalExample, type EvalResult, evaluate, paperPrompt } from "../lib/eval/evaluate.ts";
import { writeFileAtomic } from "../lib/io/atomic.ts";
import { readJsonFile } from "../lib/io/json_codec.ts";
import { writeAdapter } from "../lib/io/peft.ts";
import { writeSafetensors } from "../lib/io/safetensors.ts";
import { encodeModelConfig } from "../lib/io/hf_config.ts";
import { adapterToHost } from "../lib/model/adapter.ts";
import { loadModel, type Model } from "../lib/model/load.ts";
import { weightsFromParams } from "../lib/model/weights.ts";
import { foldIn, prngKey } from "../lib/random/prng.ts";
import { combineRewards, type Example, rewardNames } from "../lib/rewards/mod.ts";
import { renderReport } from "../lib/report/mod.ts";
import { loadBackend } from "../lib/tensor/backends.ts";
import { backendNames } from "../lib/tensor/kernels.ts";
import { loadTokenizer, type Tokenizer } from "../lib/tokenizer/mod.ts";
import { latestCheckpoint, loadCheckpoint, saveCheckpoint } from "../lib/train/checkpoint.ts";
import { resolveConfig, type TrainConfig } from "../lib/train/config.ts";
import { TrainingDiverged, trainLoop } from "../lib/train/loop.ts";
import { trainableTree } from "../lib/train/policy.ts";
import { inProcessRollout } from "../lib/train/rollout.ts";
import {
  countParams,
  initialState,
  optimizerOf,
  peftConfigOf,
  scheduleOf,
} from "../lib/train/setup.ts";
import type { TrainContext, TrainState } from "../lib/train/step.ts";
import { treeFlatten } from "../lib/tree.ts";
import {
  choiceFlag,
  integerFlag,
  numberFlag,
  parseFlags,
  progressBar,
  runMain,
  UsageError,
} from "./cli.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DEFAULT_MODEL = join(ROOT, "models", "tiny-arith");

/**
 * Tina's recipe scaled to the tiny model: same loss, KL, clipping, schedule shape and LoRA
 * targets; a larger learning rate and batch for a 0.2M-parameter model, short completions.
 */
const TINY_DEMO: Record<string, unknown> = {
  preset: "tina",
  maxSteps: 120,
  promptsPerStep: 8,
  numGenerations: 8,
  gradientAccumulationSteps: 1,
  temperature: 0.7,
  maxPromptLength: 64,
  maxCompletionLength: 48,
  learningRate: 2e-3,
  scheduleSteps: null,
  lora: { r: 2, alpha: 8, dropout: 0.05 }, // 4.6% of the weights: Tina's share is 2.1%
  rewards: [{ name: "accuracy", weight: 2 }, { name: "format", weight: 1 }],
  checkpointEvery: 10,
};

const USAGE = `Usage: train [options]
GRPO + LoRA post-training (Tina). With no options: the shipped tiny model on the built-in
arithmetic task, evaluated before and after on held-out problems.

  --model DIR            Hugging Face model directory (default models/tiny-arith)
  --tokenizer DIR        where tokenizer.json lives, if not in the model directory
  --data FILE.jsonl      training problems (problem + answer/solution); default: built-in task
  --on-bad-line skip|refuse  a malformed JSONL line is reported and skipped (default) or stops the run
  --eval-data FILE.jsonl held-out problems (default: built-in held-out split, or none with --data)
  --config FILE.json     training config overrides (field names as in summary.json "config")
  --preset tina|trl      the base recipe (default tina)
  --rewards LIST         e.g. accuracy:2,format:1   (known: ${rewardNames.join(", ")})
  --steps N              optimizer steps
  --lr X                 peak learning rate
  --lora-r N             LoRA rank (alpha stays 4r)
  --full                 train every base weight instead of LoRA adapters (comparison)
  --backend NAME         ${backendNames.join(" | ")} (default: fastest CPU backend here)
  --eval-problems N      held-out problems evaluated before and after (default 200)
  --eval-samples N       samples per problem (default 4)
  --seed N               run seed (default 42)
  --out DIR              output directory (default runs/<timestamp>)
  --resume DIR           continue the run in DIR from its latest checkpoint
  --help`;

const OPTIONS = {
  model: { type: "string" },
  tokenizer: { type: "string" },
  data: { type: "string" },
  "eval-data": { type: "string" },
  "on-bad-line": { type: "string" },
  config: { type: "string" },
  preset: { type: "string" },
  rewards: { type: "string" },
  steps: { type: "string" },
  lr: { type: "string" },
  "lora-r": { type: "string" },
  full: { type: "boolean" },
  backend: { type: "string" },
  "eval-problems": { type: "string" },
  "eval-samples": { type: "string" },
  seed: { type: "string" },
  out: { type: "string" },
  resume: { type: "string" },
  help: { type: "boolean" },
} as const;

interface Settings {
  readonly model: string;
  readonly tokenizer: string;
  readonly data: string | null;
  readonly evalData: string | null;
  readonly onBadLine: "skip" | "refuse";
  readonly configFile: string | null;
  readonly overrides: Record<string, unknown>;
  readonly backend: string | null;
  readonly evalProblems: number;
  readonly evalSamples: number;
  readonly out: string;
  readonly resume: boolean;
}

const parseRewards = (text: string): { name: string; weight: number }[] =>
  text.split(",").map((part) => {
    const [name, weight = "1"] = part.trim().split(":");
    const w = Number(weight);
    if (!rewardNames.includes(name)) {
      throw new UsageError(`--rewards: unknown reward "${name}"; known: ${rewardNames.join(", ")}`);
    }
    if (!Number.isFinite(w)) {
      throw new UsageError(`--rewards: weight of "${name}" must be a number, got "${weight}"`);
    }
    return { name, weight: w };
  });

const parse = (argv: readonly string[]): Settings | null => {
  const v = parseFlags(argv, OPTIONS);
  if (v.help) {
    console.log(USAGE);
    return null;
  }
  const model = v.model ?? DEFAULT_MODEL;
  const overrides: Record<string, unknown> = { ...(v.data ? {} : TINY_DEMO) };
  const preset = choiceFlag("preset", v.preset, ["tina", "trl"]);
  if (preset) overrides.preset = preset;
  if (v.rewards) overrides.rewards = parseRewards(v.rewards);
  const steps = integerFlag("steps", v.steps, 1);
  if (steps) overrides.maxSteps = steps;
  const lr = numberFlag("lr", v.lr, (x) => x > 0, "a positive number");
  if (lr) overrides.learningRate = lr;
  const seed = integerFlag("seed", v.seed, 0);
  if (seed !== undefined) overrides.seed = seed;
  const r = integerFlag("lora-r", v["lora-r"], 1);
  if (r) overrides.lora = { ...(overrides.lora as object ?? {}), r, alpha: 4 * r };
  if (v.full) overrides.lora = null;
  const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
  return {
    model,
    tokenizer: v.tokenizer ?? model,
    data: v.data ?? null,
    evalData: v["eval-data"] ?? null,
    onBadLine: choiceFlag("on-bad-line", v["on-bad-line"], ["skip", "refuse"] as const) ?? "skip",
    configFile: v.config ?? null,
    overrides,
    backend: choiceFlag("backend", v.backend, backendNames) ?? null,
    evalProblems: integerFlag("eval-problems", v["eval-problems"], 0) ?? 200,
    evalSamples: integerFlag("eval-samples", v["eval-samples"], 1) ?? 4,
    out: v.resume ?? v.out ?? join("runs", stamp),
    resume: v.resume !== undefined,
  };
};

/** The fastest CPU backend this runtime has (measured: tfjs-wasm, then the pure-TS one). */
const bestCpuBackend = (): Promise<string> =>
  loadBackend("tfjs-wasm").then(() => "tfjs-wasm", () => "ts");

/** sha256 over every base tensor, to prove the base weights never change. */
const hashParams = async (model: Model): Promise<string> => {
  const hash = createHash("sha256");
  for (const [path, t] of treeFlatten(model.params, isTensor)) {
    hash.update(path);
    const data = await toArray(t);
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest("hex");
};

const loadExamples = async (
  path: string,
  onBadLine: "skip" | "refuse",
): Promise<readonly JsonlExample[]> => {
  const { examples, errors } = await readJsonl(path, {
    onError: onBadLine === "skip" ? "skip" : "throw",
  });
  errors.forEach((e) => console.error(`${path}:${e.line}: skipped: ${e.message}`));
  if (examples.length === 0) throw new Error(`${path}: no usable problems`);
  return examples;
};

const resolveTrainConfig = async (s: Settings): Promise<TrainConfig> => {
  if (s.resume) {
    const saved = await readJsonFile(join(s.out, "config.json")).catch(() => {
      throw new Error(`--resume ${s.out}: no config.json there (is it a run directory?)`);
    });
    const decoded = resolveConfig(
      { ...(saved as object), ...s.overrides },
      join(s.out, "config.json"),
    );
    if (isLeft(decoded)) throw new Error(decoded.left);
    return decoded.right;
  }
  const fromFile = s.configFile
    ? (await readJsonFile(s.configFile)) as Record<string, unknown>
    : {};
  const decoded = resolveConfig({ ...s.overrides, ...fromFile }, s.configFile ?? "command line");
  if (isLeft(decoded)) throw new Error(decoded.left);
  return decoded.right;
};

interface EvalSetup {
  readonly examples: readonly EvalExample[];
  readonly style: "task" | "paper";
}

const runEval = async (
  label: string,
  model: Model,
  tokenizer: Tokenizer,
  setup: EvalSetup,
  state: TrainState | null,
  cfg: TrainConfig,
  samples: number,
): Promise<EvalResult> => {
  const bar = progressBar(`eval ${label}`, []);
  bar.start(setup.examples.length);
  const lora = state?.trainable.kind === "lora" ? state.trainable : null;
  const peft = peftConfigOf(cfg, model.dir);
  const result = await evaluate(
    state?.trainable.kind === "full"
      ? { config: model.config, params: state.trainable.params }
      : model,
    tokenizer,
    setup.examples,
    {
      adapter: lora && peft ? { config: peft, weights: lora.weights } : null,
      samplesPerProblem: samples,
      temperature: cfg.temperature,
      topP: cfg.topP,
      maxNewTokens: cfg.maxCompletionLength,
      promptStyle: setup.style,
      key: foldIn(prngKey(cfg.seed), 0xe7a1),
      batchSize: 50,
      onProgress: (done) => bar.update(done),
      now: () => performance.now(),
    },
  );
  bar.stop();
  return result;
};

const passAt1 = (r: EvalResult | null): number | null => r?.summary?.["pass@1"] ?? null;

const snapshot = (label: string, r: EvalResult | null, samples: number) =>
  r && {
    label,
    passAt1: passAt1(r) ?? NaN,
    problems: r.perProblem.length,
    samplesPerProblem: samples,
    samples: r.perProblem.slice(0, 6).map((p) => ({
      problem: p.problem,
      gold: p.gold,
      completion: p.completions[0],
      correct: p.correct?.[0] ?? false,
    })),
  };

const run = async (s: Settings): Promise<void> => {
  const cfg = await resolveTrainConfig(s);
  const backendName = s.backend ?? await bestCpuBackend();
  const backend = await loadBackend(backendName);
  const model = await loadModel(s.model, { backend });
  const tokenizer = await loadTokenizer(s.tokenizer);
  if (tokenizer.vocabSize > model.config.vocabSize) {
    throw new Error(
      `${s.tokenizer}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocabulary is ${model.config.vocabSize}`,
    );
  }
  const builtIn = s.data === null;
  const split = builtIn ? arithmeticSplits(0, { train: 5000, heldOut: s.evalProblems }) : null;
  const train = split ? split.train : await loadExamples(s.data!, s.onBadLine);
  const evalSetup: EvalSetup | null = split
    ? { examples: split.heldOut, style: "task" }
    : s.evalData
    ? {
      examples: (await loadExamples(s.evalData, s.onBadLine)).slice(0, s.evalProblems),
      style: "paper",
    }
    : null;
  const promptOf = builtIn
    ? (ex: Example) => taskPrompt({ problem: ex.problem ?? "" })
    : (ex: Example) => paperPrompt({ problem: ex.problem ?? "" });

  await mkdir(join(s.out, "checkpoints"), { recursive: true });
  await writeFileAtomic(join(s.out, "config.json"), JSON.stringify(cfg, null, 2) + "\n");
  const baseHash = await hashParams(model);
  const optimizer = optimizerOf(cfg);
  const stopTokens = [...new Set([tokenizer.eosTokenId, ...model.config.eosTokenIds])];
  const ctx: TrainContext = {
    config: cfg,
    modelConfig: model.config,
    base: model.params,
    backend,
    tokenizer,
    promptOf,
    rewards: combineRewards(cfg.rewards),
    rollout: inProcessRollout(model.config, {
      temperature: cfg.temperature,
      topP: cfg.topP,
      topK: cfg.topK,
      maxNewTokens: cfg.maxCompletionLength,
      stopTokens,
      padToken: tokenizer.padTokenId,
    }),
    optimizer,
    learningRate: scheduleOf(cfg),
    stopTokens,
    padToken: tokenizer.padTokenId,
    totalParams: countParams(model.params),
    now: () => performance.now(),
  };
  let state = initialState(backend, cfg, model.config, model.params, optimizer);
  const checkpoint = s.resume ? await latestCheckpoint(join(s.out, "checkpoints")) : null;
  if (s.resume && !checkpoint) {
    throw new Error(`--resume ${s.out}: no checkpoint in ${join(s.out, "checkpoints")}`);
  }
  if (checkpoint) {
    state = (await loadCheckpoint(checkpoint, backend, model.config, state.trainable)).state;
    console.error(`resuming from ${checkpoint} (step ${state.step})`);
  }
  const trainableParams = countParams(trainableTree(state.trainable));
  const totalParams = countParams(model.params) +
    (state.trainable.kind === "lora" ? trainableParams : 0);
  console.error(
    `model ${s.model}: ${totalParams.toLocaleString()} parameters, training ${trainableParams.toLocaleString()} ` +
      `(${((100 * trainableParams) / totalParams).toFixed(2)}%) ${
        state.trainable.kind === "lora" ? `LoRA r=${cfg.lora!.r}` : "full"
      } ` +
      `on ${backendName}; ${train.length} training problems`,
  );

  const started = performance.now();
  const before = evalSetup && !checkpoint
    ? await runEval("before", model, tokenizer, evalSetup, null, cfg, s.evalSamples)
    : null;
  if (before) {
    await writeFileAtomic(join(s.out, "eval_before.json"), JSON.stringify(before, null, 2));
  }

  const metricsPath = join(s.out, "metrics.jsonl");
  const kept = checkpoint ? await keptMetrics(metricsPath, state.step) : [];
  await writeFile(metricsPath, kept.map((r) => JSON.stringify(r) + "\n").join(""));
  const rows = [...kept];
  const bar = progressBar("train", ["reward", "kl", "acc"]);
  bar.start(cfg.maxSteps, state.step);
  const peft = peftConfigOf(cfg, s.model);
  let failure: string | null = null;
  try {
    state = await trainLoop(ctx, state, train, {
      onStep: async (_, row) => {
        rows.push(row);
        await writeFile(metricsPath, JSON.stringify(row) + "\n", { flag: "a" });
        bar.update(row.step, {
          reward: row.reward.toFixed(3),
          kl: (row.kl ?? 0).toFixed(4),
          acc: (row["rewards/accuracy/mean"] ?? NaN).toFixed(3),
        });
      },
      checkpoint: async (st) =>
        void await saveCheckpoint(join(s.out, "checkpoints"), st, {
          config: cfg,
          modelConfig: model.config,
          lora: peft,
        }),
    });
  } catch (e) {
    if (!(e instanceof TrainingDiverged)) throw e;
    failure = e.message;
  }
  bar.stop();

  const finalDir = join(s.out, state.trainable.kind === "lora" ? "adapter" : "model");
  if (state.trainable.kind === "lora") {
    await writeAdapter(finalDir, await adapterToHost(peft!, state.trainable.weights));
  } else {
    await mkdir(finalDir, { recursive: true });
    await writeSafetensors(
      join(finalDir, "model.safetensors"),
      await weightsFromParams(model.config, state.trainable.params),
    );
    await writeFileAtomic(
      join(finalDir, "config.json"),
      JSON.stringify(encodeModelConfig(model.config), null, 2),
    );
  }
  const after = evalSetup
    ? await runEval("after", model, tokenizer, evalSetup, state, cfg, s.evalSamples)
    : null;
  if (after) await writeFileAtomic(join(s.out, "eval_after.json"), JSON.stringify(after, null, 2));
  const baseUnchanged = (await hashParams(model)) === baseHash;
  const beforeJson = checkpoint
    ? await readJsonFile(join(s.out, "summary.json")).catch(() => null) as
      | Record<string, unknown>
      | null
    : null;
  const summary = {
    base_pass_at_1: passAt1(before) ?? (beforeJson?.base_pass_at_1 as number | undefined) ?? null,
    final_pass_at_1: passAt1(after),
    eval_problems: evalSetup?.examples.length ?? 0,
    eval_samples_per_problem: s.evalSamples,
    trainable_params: trainableParams,
    total_params: totalParams,
    trainable_share: trainableParams / totalParams,
    base_weights_unchanged: baseUnchanged,
    steps: state.step,
    skipped_steps: state.skippedSteps,
    wall_seconds: (performance.now() - started) / 1000,
    backend: backendName,
    model: resolve(s.model),
    mode: state.trainable.kind,
    cost: state.ledger,
    failure,
    config: cfg,
  };
  await writeFileAtomic(join(s.out, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
  await writeFileAtomic(
    join(s.out, "report.html"),
    renderReport({
      title: `tina-ts GRPO run — ${s.model}`,
      summary: Object.fromEntries(Object.entries(summary).filter(([k]) => k !== "config")),
      metrics: rows,
      before: snapshot("before", before, s.evalSamples),
      after: snapshot("after", after, s.evalSamples),
    }),
  );
  console.log(
    [
      `pass@1 ${fmt(summary.base_pass_at_1)} -> ${
        fmt(summary.final_pass_at_1)
      } on ${summary.eval_problems} held-out problems x ${s.evalSamples} samples`,
      `base weights unchanged: ${baseUnchanged}; ${state.step} steps in ${
        summary.wall_seconds.toFixed(0)
      } s on ${backendName}`,
      `metrics     ${metricsPath}`,
      `checkpoints ${join(s.out, "checkpoints")}`,
      `${state.trainable.kind === "lora" ? "adapter    " : "model      "} ${finalDir}`,
      `report      ${join(s.out, "report.html")}`,
      `summary     ${join(s.out, "summary.json")}`,
      ...(failure ? [`stopped early: ${failure}`] : []),
    ].join("\n"),
  );
  if (failure) throw new Error(failure);
};

const fmt = (x: number | null): string => (x === null ? "-" : x.toFixed(3));

/** The metric rows up to a checkpoint's step (later ones belong to the lost tail of a crashed run). */
const keptMetrics = async (path: string, step: number): Promise<Record<string, number>[]> => {
  const text = await readFile(path, "utf8").catch(() => "");
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l)).filter((r) =>
    r.step <= step
  );
};

await runMain("train", parse, run);
