/**
 * The main job: GRPO + LoRA post-training, Tina's recipe, on any Hugging Face model directory
 * and dataset (JSONL, JSON or Parquet) — by default the shipped tiny model on the built-in
 * arithmetic task, which it measurably teaches to reason in a few CPU minutes.
 *
 *   deno run -A examples/train.ts                          # the built-in demo
 *   deno run -A examples/train.ts --config recipe.yaml     # an open-r1/TRL recipe
 *   deno run -A examples/train.ts --help                   # every flag
 *
 * The run's settings are resolved once (lib/train/run_config.ts: recipe < config file < flags;
 * on --resume, the saved run < flags), printed, and saved as run.json in --out. Writes
 * metrics.jsonl, checkpoints/, the final PEFT adapter, evaluations before and after,
 * report.html (rewritten while the run is live) and summary.json.
 */
import { createHash } from "node:crypto";
import { availableParallelism, freemem } from "node:os";
import { mkdir, readFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isLeft } from "fp-ts/lib/Either.js";
import { isTensor } from "../lib/autodiff/grad.ts";
import { toArray } from "../lib/autodiff/tensor.ts";
import { arithmeticSplits, type JsonlExample } from "../lib/data/mod.ts";
import { checkGoldAnswers } from "../lib/train/gold_check.ts";
import { promptOfSpec } from "../lib/train/prompt_spec.ts";
import { type EvalExample, type EvalResult, evaluate } from "../lib/eval/evaluate.ts";
import { writeFileAtomic } from "../lib/io/atomic.ts";
import { readDataset } from "../lib/io/dataset.ts";
import { readJsonFile } from "../lib/io/json_codec.ts";
import { appendJsonl, parseMetricsLog, writeJsonl } from "../lib/io/jsonl.ts";
import { writeAdapter } from "../lib/io/peft.ts";
import { writeSafetensors } from "../lib/io/safetensors.ts";
import { encodeModelConfig, readModelConfig } from "../lib/io/hf_config.ts";
import { adapterToHost } from "../lib/model/adapter.ts";
import { loadModel, type Model } from "../lib/model/load.ts";
import { weightsFromParams } from "../lib/model/weights.ts";
import { foldIn, prngKey } from "../lib/random/prng.ts";
import { rewardNames } from "../lib/rewards/mod.ts";
import { renderReport, rewardRanges } from "../lib/report/mod.ts";
import {
  buildRollout,
  describeRollout,
  type RolloutChoice,
  rolloutChoice,
} from "../lib/rollout/setup.ts";
import { loadBackend } from "../lib/tensor/backends.ts";
import { askedThreads } from "../lib/tensor/ts/threads.ts";
import { HalfMatrix } from "../lib/tensor/half.ts";
import { type BackendName, backendNames } from "../lib/tensor/kernels.ts";
import {
  backendBudget,
  chooseBackend,
  CPU_PREFERENCE,
  describeEstimate,
  estimateMemory,
} from "../lib/plan/memory.ts";
import { loadTokenizer, type Tokenizer } from "../lib/tokenizer/mod.ts";
import { checkpointsNewestFirst, loadCheckpoint, saveCheckpoint } from "../lib/train/checkpoint.ts";
import type { TrainConfig } from "../lib/train/config.ts";
import { trainableTree } from "../lib/train/policy.ts";
import {
  describeRun,
  EVAL_LIMITS,
  parseRewardsFlag,
  RECIPE_NAMES,
  type RunFlags,
  type RunSettings,
} from "../lib/train/run_config.ts";
import { clearRun, loadRunSettings, writeRunFile } from "../lib/train/run_config_files.ts";
import { countParams, initialState, peftConfigOf, trainContext } from "../lib/train/setup.ts";
import type { TrainState } from "../lib/train/step.ts";
import { train as trainWith } from "../lib/train/trainer.ts";
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

const USAGE = `Usage: train [options]
GRPO + LoRA post-training (Tina). With no options: the shipped tiny model on the built-in
arithmetic task, evaluated before and after on held-out problems.

Settings are resolved as: recipe < --config file < flags (on --resume: the saved run < flags),
printed at start and saved in the run directory as run.json.

  --recipe demo|tina|trl  base settings (default: demo for models under 20M parameters,
                          whatever the data; tina otherwise)
  --config FILE           JSON or YAML; our field names (summary.json "config") or TRL
                          GRPOConfig / PEFT / open-r1 names (learning_rate, lora_r, ...)
  --prompt paper|task|FILE  how problems are posed (default: task for demo, paper otherwise;
                          FILE: a user-message template containing {problem})
  --model DIR             Hugging Face model directory (default models/tiny-arith)
  --tokenizer DIR         where tokenizer.json lives, if not in the model directory
  --data FILE             training problems: .jsonl, .json or .parquet (default: built-in task)
  --eval-data FILE        held-out problems (default: built-in held-out split, none with --data)
  --problem-field NAME    column of the problem (default: problem, question, prompt or messages)
  --answer-field NAME     column of the gold answer (default: answer, else solution)
  --on-bad-line skip|refuse  a malformed row is reported and skipped (default) or stops the run
  --rewards LIST          e.g. accuracy:2,format (weight defaults to 1; known: ${
  rewardNames.join(", ")
})
  --steps N               optimizer steps
  --lr X                  peak learning rate
  --lora-r N              LoRA rank (alpha = 4r unless --lora-alpha is given too; same in files)
  --lora-alpha X          LoRA alpha
  --full                  train every base weight instead of LoRA adapters (comparison)
  --seed N                run seed
  --backend NAME          ${backendNames.join(" | ")}; default: the first of
                          native (a BLAS through Deno's or Bun's FFI), tfjs-wasm, ts that
                          loads here and can hold the run
  --rollout URL[,URL...]  sample on inference servers instead of in this process (README
                          "Rollouts on inference engines"); --rollout llama.cpp starts local
                          llama-server processes on the current model
  --rollout-engine NAME   vllm | sglang | llama.cpp: the engine behind the URLs
  --rollout-servers N     local llama-server processes, threads split between them (default 1)
  --rollout-threads N     threads of all local servers together (default: all cores but one)
  --rollout-adapter-dir DIR  where vLLM/SGLang read each step's adapter (default OUT/rollout-adapters)
  --eval-problems N       held-out problems evaluated before and after (default 200)
  --eval-samples N        samples per problem (default 4)
  --eval-temperature T    evaluation sampling temperature (default 0.6, as eval.ts and the paper)
  --eval-top-p P          evaluation nucleus mass (default 0.95)
  --eval-max-new-tokens N evaluation completion limit (default: the training completion length)
  --report-every N        rewrite report.html every N steps while training (default 10)
  --out DIR               output directory (default runs/<timestamp>); one that holds
                          another run is refused
  --overwrite             replace the run in --out
  --resume DIR            continue the run in DIR (its saved settings; repeat a flag to change it)
  --help`;

const OPTIONS = {
  recipe: { type: "string" },
  config: { type: "string" },
  prompt: { type: "string" },
  model: { type: "string" },
  tokenizer: { type: "string" },
  data: { type: "string" },
  "eval-data": { type: "string" },
  "problem-field": { type: "string" },
  "answer-field": { type: "string" },
  "on-bad-line": { type: "string" },
  rewards: { type: "string" },
  steps: { type: "string" },
  lr: { type: "string" },
  "lora-r": { type: "string" },
  "lora-alpha": { type: "string" },
  full: { type: "boolean" },
  seed: { type: "string" },
  backend: { type: "string" },
  rollout: { type: "string" },
  "rollout-engine": { type: "string" },
  "rollout-servers": { type: "string" },
  "rollout-threads": { type: "string" },
  "rollout-adapter-dir": { type: "string" },
  "eval-problems": { type: "string" },
  "eval-samples": { type: "string" },
  "eval-temperature": { type: "string" },
  "eval-top-p": { type: "string" },
  "eval-max-new-tokens": { type: "string" },
  "report-every": { type: "string" },
  out: { type: "string" },
  overwrite: { type: "boolean" },
  resume: { type: "string" },
  help: { type: "boolean" },
} as const;

interface Settings {
  readonly flags: Omit<RunFlags, "prompt">;
  readonly prompt: string | undefined;
  readonly configFile: string | undefined;
  readonly onBadLine: "skip" | "refuse";
  readonly backend: string | null;
  readonly rollout: RolloutChoice | null;
  readonly reportEvery: number;
  readonly out: string;
  readonly resume: boolean;
  readonly overwrite: boolean;
}

const boundedFlag = (flag: string, text: string | undefined, min: number, max: number) => {
  const value = integerFlag(flag, text, min);
  if (value !== undefined && value > max) {
    throw new UsageError(`--${flag} must be at most ${max}, got ${value}`);
  }
  return value;
};

/** Only the fields the user typed: absent flags must not override lower layers. */
const defined = <T extends Record<string, unknown>>(o: T): Partial<T> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

const parse = (argv: readonly string[]): Settings | null => {
  const v = parseFlags(argv, OPTIONS);
  if (v.help) {
    console.log(USAGE);
    return null;
  }
  if (v.resume !== undefined && v.out !== undefined && resolve(v.out) !== resolve(v.resume)) {
    throw new UsageError(`--out ${v.out} and --resume ${v.resume} name different runs`);
  }
  if (v.resume !== undefined && v.overwrite) {
    throw new UsageError(`--resume continues a run and --overwrite replaces it: choose one`);
  }
  const rewards = v.rewards === undefined ? undefined : parseRewardsFlag(v.rewards);
  if (rewards && isLeft(rewards)) throw new UsageError(rewards.left.join("; "));
  const r = integerFlag("lora-r", v["lora-r"], 1);
  const alpha = numberFlag("lora-alpha", v["lora-alpha"], (x) => x > 0, "a positive number");
  if (v.full && (r !== undefined || alpha !== undefined)) {
    throw new UsageError(`--full trains every weight: --lora-r/--lora-alpha do not apply`);
  }
  const lora = v.full
    ? null
    : r === undefined && alpha === undefined
    ? undefined
    : defined({ r, alpha });
  const train = defined({
    maxSteps: integerFlag("steps", v.steps, 1),
    learningRate: numberFlag("lr", v.lr, (x) => x > 0, "a positive number"),
    seed: integerFlag("seed", v.seed, 0),
    lora,
    rewards: rewards?.right,
  });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
  return {
    flags: {
      ...defined({
        recipe: choiceFlag("recipe", v.recipe, RECIPE_NAMES),
        model: v.model,
        tokenizer: v.tokenizer,
        data: v.data,
        evalData: v["eval-data"],
        problemField: v["problem-field"],
        answerField: v["answer-field"],
        evalProblems: boundedFlag("eval-problems", v["eval-problems"], 0, EVAL_LIMITS.problems),
        evalSamples: boundedFlag("eval-samples", v["eval-samples"], 1, EVAL_LIMITS.samples),
        evalTemperature: numberFlag(
          "eval-temperature",
          v["eval-temperature"],
          (x) => x >= 0,
          "a number >= 0",
        ),
        evalTopP: numberFlag("eval-top-p", v["eval-top-p"], (p) => p > 0 && p <= 1, "in (0, 1]"),
        evalMaxNewTokens: integerFlag("eval-max-new-tokens", v["eval-max-new-tokens"], 1),
      }),
      train,
    },
    prompt: v.prompt,
    configFile: v.config,
    onBadLine: choiceFlag("on-bad-line", v["on-bad-line"], ["skip", "refuse"] as const) ?? "skip",
    backend: choiceFlag("backend", v.backend, backendNames) ?? null,
    rollout: rolloutFlags(v),
    reportEvery: integerFlag("report-every", v["report-every"], 1) ?? 10,
    out: v.resume ?? v.out ?? join("runs", stamp),
    resume: v.resume !== undefined,
    overwrite: v.overwrite ?? false,
  };
};

const rolloutFlags = (v: ReturnType<typeof parseFlags<typeof OPTIONS>>): RolloutChoice | null => {
  try {
    return rolloutChoice({
      rollout: v.rollout,
      engine: v["rollout-engine"],
      servers: integerFlag("rollout-servers", v["rollout-servers"], 1),
      threads: integerFlag("rollout-threads", v["rollout-threads"], 1),
      adapterDir: v["rollout-adapter-dir"],
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
};

/** CPU_PREFERENCE's backends that start here, in its order, and why the others do not. */
const loadableCpuBackends = async (): Promise<{ loadable: BackendName[]; missing: string[] }> => {
  const [loadable, missing]: [BackendName[], string[]] = [[], []];
  // One at a time: tfjs initializes one backend at a time.
  for (const name of CPU_PREFERENCE) {
    await loadBackend(name).then(
      () => loadable.push(name),
      (e: Error) => {
        const message = e.message.split("\n")[0];
        missing.push(message.startsWith(name) ? message : `${name}: ${message}`);
      },
    );
  }
  return { loadable, missing };
};

/**
 * The backend this run fits on (lib/plan/memory.ts), decided before any weight is loaded: the
 * asked one, refused in one line with the numbers when it cannot hold the run, or else the
 * first CPU backend in CPU_PREFERENCE that loads here and can. Prints the choice and why.
 */
const plannedBackend = async (
  dir: string,
  cfg: TrainConfig,
  asked: BackendName | null,
): Promise<BackendName> => {
  const modelConfig = await readModelConfig(dir);
  const estimate = estimateMemory(modelConfig, {
    sequences: cfg.promptsPerStep * cfg.numGenerations / cfg.gradientAccumulationSteps,
    promptLength: cfg.maxPromptLength,
    completionLength: cfg.maxCompletionLength,
    lora: cfg.lora && { rank: cfg.lora.r, targets: cfg.lora.targets },
    gradientCheckpointing: cfg.gradientCheckpointing,
    // At most one per core beyond this thread (TINA_THREADS sets the count).
    workerThreads: (askedThreads() ?? availableParallelism()) - 1,
  });
  const { loadable, missing } = asked ? { loadable: [], missing: [] } : await loadableCpuBackends();
  const [free, halfWeights] = [freemem(), modelConfig.dtype !== "float32"];
  const chosen = chooseBackend(estimate, asked, loadable, free, halfWeights);
  const { detail } = await loadBackend(chosen);
  const { weightFactor } = backendBudget(chosen, free, halfWeights);
  const why = asked ? ["asked for"] : [
    `the first of ${CPU_PREFERENCE.join(", ")} that loads here and holds this run`,
    ...missing,
    ...loadable.slice(0, loadable.indexOf(chosen)).map((name) => `${name} cannot hold it`),
  ];
  console.error(
    `backend ${chosen}${detail ? ` (${detail})` : ""}: ${why.join("; ")}; needs ` +
      `${describeEstimate(estimate, weightFactor)}, ${(free / 1e9).toFixed(2)} GB free`,
  );
  return chosen;
};

/** sha256 over every base tensor, to prove the base weights never change. */
const hashParams = async (model: Model): Promise<string> => {
  const hash = createHash("sha256");
  for (const [path, t] of treeFlatten(model.params, isTensor)) {
    hash.update(path);
    // 16-bit weights are hashed as stored: widening each to float32 here doubled the peak memory.
    const data = t.handle instanceof HalfMatrix ? t.handle.bits : await toArray(t);
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest("hex");
};

/** Every setting resolved and every input read and checked: nothing is written before this. */
const resolveSettings = async (s: Settings): Promise<RunSettings> => {
  const { run, notes, context } = await loadRunSettings({
    ...s,
    defaultModel: DEFAULT_MODEL,
  });
  notes.forEach((n) => console.error(`note: ${n}`));
  console.error(describeRun(run, context));
  return run;
};

const loadExamples = async (
  source: NonNullable<RunSettings["data"]>,
  onBadLine: "skip" | "refuse",
): Promise<readonly JsonlExample[]> => {
  const dataset = await readDataset(source.path, {
    problemField: source.problemField,
    answerField: source.answerField,
    onError: onBadLine === "skip" ? "skip" : "throw",
  });
  dataset.errors.forEach((e) => console.error(`${e.where}: skipped: ${e.message}`));
  console.error(
    `${source.path}: ${dataset.examples.length} problems (${dataset.format}; problem from ` +
      `"${dataset.problemColumn}", answer from "${dataset.answerColumn ?? "messages"}")`,
  );
  return dataset.examples;
};

/** Gold answers the accuracy reward cannot parse give it no signal: refuse all, warn some. */
const checkGolds = (path: string, examples: readonly JsonlExample[], cfg: TrainConfig) => {
  if (!cfg.rewards.some((r) => r.name === "accuracy")) return;
  const { checked, unparsable } = checkGoldAnswers(examples);
  if (unparsable.length === checked) {
    throw new Error(
      `${path}: none of the first ${checked} gold answers parses, so the accuracy reward would ` +
        `give no signal (check --answer-field)`,
    );
  }
  if (unparsable.length > 0) {
    console.error(
      `warning: ${path}: ${unparsable.length} of the first ${checked} gold answers do not parse ` +
        `(rows ${unparsable.slice(0, 5).join(", ")}${unparsable.length > 5 ? ", ..." : ""}); ` +
        `accuracy is null (no signal) on those`,
    );
  }
};

/** Prompts longer than the budget are left-truncated; characters the tokenizer lacks vanish. */
const checkPrompts = (
  tokenizer: Tokenizer,
  examples: readonly JsonlExample[],
  run: RunSettings,
): void => {
  const promptOf = promptOfSpec(run.prompt);
  const sample = examples.slice(0, 200);
  const lengths = sample.map((ex) =>
    tokenizer.encode(
      tokenizer.applyChatTemplate(promptOf(ex), { addGenerationPrompt: true }),
    ).length
  );
  const long = lengths.filter((n) => n > run.train.maxPromptLength).length;
  if (long > 0) {
    console.error(
      `warning: ${long} of the first ${sample.length} prompts are longer than maxPromptLength ` +
        `${run.train.maxPromptLength} tokens (longest ${Math.max(...lengths)}): they are ` +
        `left-truncated`,
    );
  }
  const text = promptOf(sample[0]).map((m) => m.content).join("\n");
  const lost = [...new Set(text)].filter((ch) =>
    !tokenizer.decode(tokenizer.encode(ch)).includes(ch)
  );
  if (lost.length > 0) {
    console.error(
      `warning: the tokenizer cannot write ${
        lost.map((c) => JSON.stringify(c)).join(" ")
      } of the ${run.prompt.style} prompt: they are dropped (try --prompt task or a template)`,
    );
  }
};

interface EvalSetup {
  readonly examples: readonly EvalExample[];
  readonly source: string;
}

/**
 * Evaluation prompts are not truncated: the longest one plus the completion limit must fit the
 * model's positions, or the run is refused now rather than failing in its first evaluation.
 */
const checkEvalFits = (
  tokenizer: Tokenizer,
  setup: EvalSetup,
  run: RunSettings,
  context: number,
): void => {
  const promptOf = promptOfSpec(run.prompt);
  const longest = Math.max(
    ...setup.examples.map((ex) =>
      tokenizer.encode(tokenizer.applyChatTemplate(promptOf(ex), { addGenerationPrompt: true }))
        .length
    ),
  );
  if (longest + run.eval.maxNewTokens > context) {
    throw new Error(
      `${setup.source}: evaluation prompts up to ${longest} tokens (${run.prompt.style} prompt) + ` +
        `${run.eval.maxNewTokens} new tokens exceed the model's ${context} positions; use a ` +
        `shorter --prompt or a lower --eval-max-new-tokens`,
    );
  }
};

const runEval = async (
  label: string,
  model: Model,
  tokenizer: Tokenizer,
  setup: EvalSetup,
  state: TrainState | null,
  run: RunSettings,
): Promise<EvalResult> => {
  const bar = progressBar(`eval ${label}`, []);
  bar.start(setup.examples.length);
  const lora = state?.trainable.kind === "lora" ? state.trainable : null;
  const peft = peftConfigOf(run.train, model.dir);
  const promptOf = promptOfSpec(run.prompt);
  const result = await evaluate(
    state?.trainable.kind === "full"
      ? { config: model.config, params: state.trainable.params }
      : model,
    tokenizer,
    setup.examples,
    {
      adapter: lora && peft ? { config: peft, weights: lora.weights } : null,
      samplesPerProblem: run.eval.samples,
      temperature: run.eval.temperature,
      topP: run.eval.topP,
      maxNewTokens: run.eval.maxNewTokens,
      promptStyle: "task",
      promptOf,
      key: foldIn(prngKey(run.train.seed), 0xe7a1),
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

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;

/**
 * The checkpoint to resume from: the newest that loads. A damaged one (a disk filled, a file
 * truncated by hand) is skipped for the one before it, and said so.
 */
const resumeState = async (
  out: string,
  load: (dir: string) => Promise<TrainState>,
): Promise<{ dir: string; state: TrainState }> => {
  const dirs = await checkpointsNewestFirst(join(out, "checkpoints"));
  for (const dir of dirs) {
    try {
      return { dir, state: await load(dir) };
    } catch (e) {
      console.error(`warning: skipping damaged checkpoint ${dir}: ${(e as Error).message}`);
    }
  }
  throw new Error(
    `--resume ${out}: ${dirs.length === 0 ? "no checkpoint" : "no loadable checkpoint"} in ${
      join(out, "checkpoints")
    }`,
  );
};

/** The metric rows up to a checkpoint's step (later ones belong to the lost tail of a crashed run). */
const keptMetrics = async (path: string, step: number): Promise<Record<string, number>[]> => {
  const text = await readFile(path, "utf8").catch(() => "");
  const { rows, repaired } = parseMetricsLog(text, path);
  repaired.forEach((r) => console.error(`repaired: ${r}`));
  const kept = rows.filter((r) => r.step <= step);
  if (kept.length < rows.length) {
    console.error(
      `${path}: ${plural(rows.length - kept.length, "row")} past the checkpoint's step ${step} ` +
        `dropped (they are trained again)`,
    );
  }
  return kept;
};

/** The run's pass@1 before training, from its eval_before.json (kept across resumes). */
const savedBefore = (out: string): Promise<EvalResult | null> =>
  readJsonFile(join(out, "eval_before.json")).then((r) => r as EvalResult, () => null);

const run = async (s: Settings): Promise<void> => {
  const settings = await resolveSettings(s);
  const cfg = settings.train;
  const builtIn = settings.data === null;
  const split = builtIn
    ? arithmeticSplits(0, { train: 5000, heldOut: settings.eval.problems })
    : null;
  const train = split ? split.train : await loadExamples(settings.data!, s.onBadLine);
  const evalSetup: EvalSetup | null = settings.evalData
    ? {
      examples: (await loadExamples(settings.evalData, s.onBadLine)).slice(
        0,
        settings.eval.problems,
      ),
      source: settings.evalData.path,
    }
    : split
    ? { examples: split.heldOut, source: "built-in held-out split" }
    : null;
  if (settings.data) checkGolds(settings.data.path, train, cfg);
  if (evalSetup && settings.evalData) checkGolds(evalSetup.source, evalSetup.examples, cfg);
  // --backend was checked against backendNames when parsed.
  const backendName = await plannedBackend(settings.model, cfg, s.backend as BackendName | null);
  const backend = await loadBackend(backendName);
  const model = await loadModel(settings.model, { backend });
  const tokenizer = await loadTokenizer(settings.tokenizer);
  if (tokenizer.vocabSize > model.config.vocabSize) {
    throw new Error(
      `${settings.tokenizer}: the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocabulary is ${model.config.vocabSize}`,
    );
  }
  checkPrompts(tokenizer, train, settings);
  if (evalSetup) checkEvalFits(tokenizer, evalSetup, settings, model.config.maxPositionEmbeddings);

  // Everything is checked: from here on the run directory is written.
  if (s.overwrite) await clearRun(s.out);
  await mkdir(join(s.out, "checkpoints"), { recursive: true });
  await writeRunFile(s.out, settings);
  await writeFileAtomic(join(s.out, "config.json"), JSON.stringify(cfg, null, 2) + "\n");
  const baseHash = await hashParams(model);
  const promptOf = promptOfSpec(settings.prompt);
  const ctx = trainContext({
    config: cfg,
    model,
    tokenizer,
    promptOf: (ex) => promptOf({ problem: ex.problem ?? "" }),
    now: () => performance.now(),
  });
  const engine = s.rollout &&
    await buildRollout(s.rollout, {
      modelDir: settings.model,
      tokenizerDir: settings.tokenizer,
      modelConfig: model.config,
      config: cfg,
      lora: peftConfigOf(cfg, settings.model),
      special: { bos: tokenizer.bosTokenId, stop: ctx.stopTokens, pad: ctx.padToken },
      workDir: s.out,
      tag: `${basename(resolve(s.out))}-${Date.now().toString(36)}`,
      log: (line) => console.error(line),
    });
  let state = initialState(ctx);
  const initial = state.trainable;
  const resumed = s.resume
    ? await resumeState(
      s.out,
      async (dir) => (await loadCheckpoint(dir, backend, model.config, initial)).state,
    )
    : null;
  if (resumed) {
    state = resumed.state;
    console.error(`resuming from ${resumed.dir} (step ${state.step} of ${cfg.maxSteps})`);
  }
  const trainableParams = countParams(trainableTree(state.trainable));
  const totalParams = countParams(model.params) +
    (state.trainable.kind === "lora" ? trainableParams : 0);
  console.error(
    `model ${settings.model}: ${totalParams.toLocaleString()} parameters, training ${trainableParams.toLocaleString()} ` +
      `(${((100 * trainableParams) / totalParams).toFixed(2)}%) ${
        state.trainable.kind === "lora" ? `LoRA r=${cfg.lora!.r}` : "full"
      } ` +
      `on ${backendName}; ${plural(train.length, "training problem")}`,
  );

  const started = performance.now();
  const before = evalSetup && !resumed
    ? await runEval("before", model, tokenizer, evalSetup, null, settings)
    : await savedBefore(s.out);
  if (before && !resumed) {
    await writeFileAtomic(join(s.out, "eval_before.json"), JSON.stringify(before, null, 2));
  }

  const metricsPath = join(s.out, "metrics.jsonl");
  const rows = resumed ? await keptMetrics(metricsPath, state.step) : [];
  await writeJsonl(metricsPath, rows);
  const runName = basename(resolve(s.out));
  const ranges = rewardRanges(cfg.rewards);
  const report = (summary: Record<string, unknown>, after: EvalResult | null) =>
    writeFileAtomic(
      join(s.out, "report.html"),
      renderReport({
        title: runName,
        summary,
        metrics: rows,
        ranges,
        before: snapshot("before", before, settings.eval.samples),
        after: snapshot("after", after, settings.eval.samples),
      }),
    );
  const bar = progressBar("train", ["reward", "kl", "acc"]);
  bar.start(cfg.maxSteps, state.step);
  const peft = peftConfigOf(cfg, settings.model);
  const run = await trainWith({
    model,
    tokenizer,
    data: train,
    config: cfg,
    prompt: ctx.promptOf,
    rollout: engine?.rollout,
    now: ctx.now,
    start: () => state,
    onStep: async (row, st) => {
      rows.push(row);
      await appendJsonl(metricsPath, row);
      bar.update(row.step, {
        reward: row.reward.toFixed(3),
        kl: (row.kl ?? 0).toFixed(4),
        acc: (row["rewards/accuracy/mean"] ?? NaN).toFixed(3),
      });
      if (row.step % s.reportEvery === 0) {
        await report({ status: `live: step ${st.step} of ${cfg.maxSteps}`, cost: st.ledger }, null);
      }
    },
    checkpoint: async (st) =>
      void await saveCheckpoint(join(s.out, "checkpoints"), st, {
        config: cfg,
        modelConfig: model.config,
        lora: peft,
      }),
  }).finally(() => engine?.close());
  state = run.state;
  const failure = run.failure;
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
    ? await runEval("after", model, tokenizer, evalSetup, state, settings)
    : null;
  if (after) await writeFileAtomic(join(s.out, "eval_after.json"), JSON.stringify(after, null, 2));
  const baseUnchanged = (await hashParams(model)) === baseHash;
  const summary = {
    base_pass_at_1: passAt1(before),
    final_pass_at_1: passAt1(after),
    eval_problems: evalSetup?.examples.length ?? 0,
    eval_samples_per_problem: settings.eval.samples,
    eval_sampling: {
      temperature: settings.eval.temperature,
      top_p: settings.eval.topP,
      max_new_tokens: settings.eval.maxNewTokens,
    },
    train_sampling: {
      temperature: cfg.temperature,
      top_p: cfg.topP,
      max_new_tokens: cfg.maxCompletionLength,
    },
    trainable_params: trainableParams,
    total_params: totalParams,
    trainable_share: trainableParams / totalParams,
    base_weights_unchanged: baseUnchanged,
    steps: state.step,
    skipped_steps: state.skippedSteps,
    wall_seconds: (performance.now() - started) / 1000,
    backend: backendName,
    rollout: describeRollout(s.rollout),
    model: resolve(settings.model),
    recipe: settings.recipe,
    prompt: settings.prompt.style,
    mode: state.trainable.kind,
    cost: state.ledger,
    failure,
    config: cfg,
  };
  await writeFileAtomic(join(s.out, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
  await report(Object.fromEntries(Object.entries(summary).filter(([k]) => k !== "config")), after);
  const e = settings.eval;
  console.log(
    [
      ...(evalSetup
        ? [
          `pass@1 ${fmt(summary.base_pass_at_1)} -> ${fmt(summary.final_pass_at_1)} on ${
            plural(summary.eval_problems, "held-out problem")
          } x ${plural(e.samples, "sample")} (temperature ${e.temperature}, top-p ${e.topP}, ` +
          `≤ ${e.maxNewTokens} new tokens)`,
        ]
        : ["no evaluation (no --eval-data)"]),
      `base weights unchanged: ${baseUnchanged}; ${plural(state.step, "step")}${
        resumed ? ` (${state.step - resumed.state.step} since resuming)` : ""
      } in ${summary.wall_seconds.toFixed(0)} s on ${backendName}`,
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

await runMain("train", parse, run);
