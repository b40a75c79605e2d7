/**
 * Evaluates a model (optionally with a LoRA adapter) on JSONL benchmarks or the built-in
 * arithmetic held-out split: pass@1 (mean over n samples), pass@k and maj@k per dataset.
 *
 *   deno run -A examples/eval.ts --data data/benchmarks/aime24.jsonl --model DIR
 *   bun examples/eval.ts --help
 *   npx tsx examples/eval.ts --adapter runs/x/adapter --samples 8
 */
import process from "node:process";
import { choiceFlag, integerFlag, numberFlag, parseFlags, runMain, UsageError } from "./cli.ts";
import { mkdir, stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { arithmeticSplits } from "../lib/data/mod.ts";
import { promptOfSpec } from "../lib/train/prompt_spec.ts";
import { readDataset } from "../lib/io/dataset.ts";
import {
  EVAL_SAMPLING,
  parameterCount,
  type PromptSpec,
  TINY_MODEL_PARAMS,
} from "../lib/train/run_config.ts";
import { readPromptFlag } from "../lib/train/run_config_files.ts";
import { type EvalExample, type EvalResult, evaluate } from "../lib/eval/evaluate.ts";
import { formatTable } from "../lib/eval/metrics.ts";
import { writeFileAtomic } from "../lib/io/atomic.ts";
import { loadAdapter, loadModel } from "../lib/model/load.ts";
import { prngKey } from "../lib/random/prng.ts";
import { loadTokenizer } from "../lib/tokenizer/load.ts";
import type { Tokenizer } from "../lib/tokenizer/hf.ts";
import { backendNames } from "../lib/tensor/kernels.ts";

const DEFAULT_MODEL_DIR = fileURLToPath(new URL("../models/tiny-arith", import.meta.url));
const BUILTIN_DATASET = "arithmetic";
/** Held-out problems evaluated from the built-in task when --limit is not given. */
const DEFAULT_ARITHMETIC_PROBLEMS = 200;

const USAGE = `Usage: eval [options]

  --model DIR             Hugging Face model directory (default: models/tiny-arith)
  --adapter DIR           PEFT LoRA adapter to apply (default: none)
  --data FILE             benchmark file (.jsonl, .json or .parquet); repeat or
                          comma-separate for several (default: the built-in task's held-out split)
  --problem-field NAME    column of the problem (default: problem, question, prompt or messages)
  --answer-field NAME     column of the gold answer (default: answer, else solution)
  --split-seed N          seed of the arithmetic train/held-out split; must match the
                          training run's (default 0)
  --samples N             completions per problem (default 4)
  --k N                   k of pass@k and maj@k (default: --samples)
  --temperature T         sampling temperature, 0 = greedy (default ${EVAL_SAMPLING.temperature}, as the paper
                          and train.ts's evaluation)
  --top-p P               nucleus sampling mass in (0, 1] (default ${EVAL_SAMPLING.topP}, as the paper)
  --max-new-tokens N      completion length limit (default 128 on the built-in task, 4096 on
                          files; a default is clamped to the model's context, a given one checked)
  --prompt paper|task|FILE  the paper's math prompt, the built-in task's, or a template file
                          with {problem} (default: task on the built-in task and on models
                          under 20M parameters, paper otherwise)
  --limit N               evaluate only the first N problems of each dataset
  --batch-size N          problems per generation batch (default 8)
  --backend NAME          ${backendNames.join(" | ")} (default ts)
  --seed N                sampling seed (default 0)
  --out FILE.json         also write every completion and score as JSON
  --help                  show this text`;

type Settings = {
  readonly model: string;
  readonly adapter: string | null;
  readonly data: readonly string[];
  readonly splitSeed: number;
  readonly samples: number;
  readonly k: number;
  readonly temperature: number;
  readonly topP: number;
  readonly maxNewTokens: number | null;
  readonly prompt: string | null;
  readonly problemField: string | null;
  readonly answerField: string | null;
  readonly limit: number | null;
  readonly batchSize: number;
  readonly backend: string;
  readonly seed: number;
  readonly out: string | null;
};

const OPTIONS = {
  model: { type: "string" },
  adapter: { type: "string" },
  data: { type: "string", multiple: true },
  "split-seed": { type: "string" },
  samples: { type: "string" },
  k: { type: "string" },
  temperature: { type: "string" },
  "top-p": { type: "string" },
  "max-new-tokens": { type: "string" },
  prompt: { type: "string" },
  "problem-field": { type: "string" },
  "answer-field": { type: "string" },
  limit: { type: "string" },
  "batch-size": { type: "string" },
  backend: { type: "string" },
  seed: { type: "string" },
  out: { type: "string" },
  help: { type: "boolean" },
} as const;

/** The settings, or null when --help was asked for. Throws UsageError on a bad command line. */
const parseSettings = (argv: readonly string[]): Settings | null => {
  const values = parseFlags(argv, OPTIONS);
  if (values.help) {
    console.log(USAGE);
    return null;
  }
  const samples = integerFlag("samples", values.samples, 1) ?? 4;
  const k = integerFlag("k", values.k, 1) ?? samples;
  if (k > samples) throw new UsageError(`--k (${k}) must not exceed --samples (${samples})`);
  return {
    model: values.model ?? DEFAULT_MODEL_DIR,
    adapter: values.adapter ?? null,
    data: (values.data ?? []).flatMap((list) => list.split(",")).map((f) => f.trim())
      .filter((f) => f !== ""),
    splitSeed: integerFlag("split-seed", values["split-seed"], 0) ?? 0,
    samples,
    k,
    temperature: numberFlag("temperature", values.temperature, (t) => t >= 0, "a number >= 0") ??
      EVAL_SAMPLING.temperature,
    topP: numberFlag("top-p", values["top-p"], (p) => p > 0 && p <= 1, "a number in (0, 1]") ??
      EVAL_SAMPLING.topP,
    maxNewTokens: integerFlag("max-new-tokens", values["max-new-tokens"], 1) ?? null,
    prompt: values.prompt ?? null,
    problemField: values["problem-field"] ?? null,
    answerField: values["answer-field"] ?? null,
    limit: integerFlag("limit", values.limit, 1) ?? null,
    batchSize: integerFlag("batch-size", values["batch-size"], 1) ?? 8,
    backend: choiceFlag("backend", values.backend, backendNames) ?? "ts",
    seed: integerFlag("seed", values.seed, 0) ?? 0,
    out: values.out ?? null,
  };
};

type Dataset = {
  readonly name: string;
  readonly source: string;
  readonly examples: readonly EvalExample[];
  /** null: chosen by the model (as train.ts does): task for tiny models, else the paper's. */
  readonly prompt: PromptSpec | null;
  /** The limit asked for; null: the default (128 on the built-in task, 4096 on files). */
  readonly maxNewTokens: number | null;
  readonly defaultMaxNewTokens: number;
};

const loadDatasets = async (s: Settings): Promise<Dataset[]> => {
  const prompt = s.prompt === null ? null : await readPromptFlag(s.prompt);
  if (s.data.length === 0) {
    const heldOut = s.limit ?? DEFAULT_ARITHMETIC_PROBLEMS;
    return [{
      name: BUILTIN_DATASET,
      source: `arithmeticSplits(${s.splitSeed}).heldOut`,
      examples: arithmeticSplits(s.splitSeed, { train: 0, heldOut }).heldOut,
      prompt: prompt ?? { style: "task" },
      maxNewTokens: s.maxNewTokens,
      defaultMaxNewTokens: 128,
    }];
  }
  return await Promise.all(s.data.map(async (path) => {
    const { examples } = await readDataset(path, {
      problemField: s.problemField,
      answerField: s.answerField,
    });
    return {
      name: basename(path).replace(/\.(jsonl|json|parquet)$/, ""),
      source: path,
      examples: s.limit === null ? examples : examples.slice(0, s.limit),
      prompt,
      maxNewTokens: s.maxNewTokens,
      defaultMaxNewTokens: 4096,
    };
  }));
};

/**
 * The completion limit that fits the model's context after the dataset's longest prompt: a
 * default is clamped (said on stderr), a limit the user gave that does not fit is refused.
 */
const fitMaxNewTokens = (
  dataset: Dataset & { readonly prompt: PromptSpec },
  tokenizer: Tokenizer,
  context: number,
  model: string,
): number => {
  const promptOf = promptOfSpec(dataset.prompt);
  const longest = Math.max(
    0,
    ...dataset.examples.map((ex) =>
      tokenizer.encode(tokenizer.applyChatTemplate(promptOf(ex), { addGenerationPrompt: true }))
        .length
    ),
  );
  const room = context - longest;
  const where = `${dataset.name}: prompts up to ${longest} tokens (${dataset.prompt.style} ` +
    `prompt) on a ${context}-position model (${model})`;
  if (room <= 0) throw new Error(`${where} leave no room to generate; try --prompt task`);
  if (dataset.maxNewTokens !== null) {
    if (dataset.maxNewTokens > room) {
      throw new Error(`--max-new-tokens ${dataset.maxNewTokens}: ${where} leave room for ${room}`);
    }
    return dataset.maxNewTokens;
  }
  if (dataset.defaultMaxNewTokens > room) {
    console.error(
      `note: ${where}: max new tokens clamped from ${dataset.defaultMaxNewTokens} to ${room}`,
    );
    return room;
  }
  return dataset.defaultMaxNewTokens;
};

/** Missing default model: say how to get one rather than which file is absent. */
const checkModelDir = async (dir: string): Promise<void> => {
  const exists = await stat(dir).then((st) => st.isDirectory(), () => false);
  if (!exists) {
    throw new Error(
      dir === DEFAULT_MODEL_DIR
        ? `the default model ${dir} is not built yet; build it or pass --model DIR`
        : `--model ${dir}: no such directory`,
    );
  }
};

const BAR_WIDTH = 24;

const progressLine = (name: string, done: number, total: number, seconds: number): string => {
  const filled = total === 0 ? BAR_WIDTH : Math.round((done / total) * BAR_WIDTH);
  const bar = "#".repeat(filled) + ".".repeat(BAR_WIDTH - filled);
  return `${name} [${bar}] ${done}/${total} problems  ${seconds.toFixed(1)}s`;
};

/** Rewrites one stderr line on a terminal; elsewhere (logs, pipes) writes a line per update. */
const progressReporter = (name: string) => {
  const started = performance.now();
  const tty = process.stderr.isTTY === true;
  return {
    update: (done: number, total: number) => {
      const line = progressLine(name, done, total, (performance.now() - started) / 1000);
      process.stderr.write(tty ? `\r${line}` : `${line}\n`);
    },
    finish: () => {
      if (tty) process.stderr.write("\n");
    },
  };
};

const summaryRow = (name: string, result: EvalResult) => ({
  dataset: name,
  problems: result.perProblem.length,
  samples: result.summary?.samples ?? "-",
  k: result.summary?.k ?? "-",
  "pass@1": result.summary?.["pass@1"] ?? "-",
  "pass@k": result.summary?.["pass@k"] ?? "-",
  "maj@k": result.summary?.["maj@k"] ?? "-",
  unscorable: result.unscorable,
  tokens: result.tokensGenerated,
  seconds: result.seconds.toFixed(1),
});

const writeReport = async (path: string, report: unknown): Promise<void> => {
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, `${JSON.stringify(report, null, 2)}\n`);
};

const run = async (s: Settings): Promise<void> => {
  const datasets = await loadDatasets(s);
  await checkModelDir(s.model);
  const [model, tokenizer] = await Promise.all([
    loadModel(s.model, { backend: s.backend }),
    loadTokenizer(s.model),
  ]);
  const adapter = s.adapter === null ? null : await loadAdapter(s.adapter, model);
  const key = prngKey(s.seed);
  const results: {
    readonly dataset: Dataset;
    readonly result: EvalResult;
    readonly maxNewTokens: number;
  }[] = [];
  const tiny = parameterCount(model.config) < TINY_MODEL_PARAMS;
  for (const given of datasets) {
    const dataset = {
      ...given,
      prompt: given.prompt ?? { style: tiny ? "task" : "paper" } as const,
    };
    if (given.prompt === null) {
      console.error(
        `note: ${dataset.name}: ${dataset.prompt.style} prompt, chosen for a ` +
          `${tiny ? "tiny" : "full-size"} model (--prompt paper|task|FILE to choose)`,
      );
    }
    const maxNewTokens = fitMaxNewTokens(
      dataset,
      tokenizer,
      model.config.maxPositionEmbeddings,
      s.model,
    );
    console.error(
      `${dataset.name}: ${dataset.prompt.style} prompt, temperature ${s.temperature}, ` +
        `top-p ${s.topP}, ≤ ${maxNewTokens} new tokens, ${s.samples} samples per problem`,
    );
    const progress = progressReporter(dataset.name);
    const result = await evaluate(model, tokenizer, dataset.examples, {
      adapter,
      samplesPerProblem: s.samples,
      k: s.k,
      temperature: s.temperature,
      topP: s.topP,
      maxNewTokens,
      promptStyle: "task",
      promptOf: promptOfSpec(dataset.prompt),
      key,
      batchSize: s.batchSize,
      onProgress: progress.update,
      now: () => performance.now(),
    });
    progress.finish();
    results.push({ dataset, result, maxNewTokens });
  }
  console.log(formatTable(results.map(({ dataset, result }) => summaryRow(dataset.name, result))));
  if (s.out !== null) {
    await writeReport(s.out, {
      model: s.model,
      adapter: s.adapter,
      settings: s,
      datasets: results.map(({ dataset, result, maxNewTokens }) => ({
        name: dataset.name,
        source: dataset.source,
        prompt: dataset.prompt,
        sampling: { temperature: s.temperature, topP: s.topP, maxNewTokens },
        ...result,
      })),
    });
    console.error(`wrote ${s.out}`);
  }
};

await runMain("eval", parseSettings, run);
