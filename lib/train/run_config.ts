/**
 * One resolution of everything a training run is: recipe, model, data, prompt, evaluation and
 * the TrainConfig, from the layers a user can give, with one stated precedence:
 *
 *   fresh run:  recipe (demo | tina | trl) < config file (JSON/YAML, our or TRL names) < flags
 *   --resume:   the saved run (run.json)   < config file                              < flags
 *
 * Pure: files are read by the caller (run_config_files.ts). Every choice made for the user
 * (recipe from the model, prompt from the recipe, a clamped length) comes back as a note to
 * print, and every problem comes back at once, before anything is written.
 */
import { type Either, isLeft, left, right } from "fp-ts/lib/Either.js";
import type { ModelConfig } from "../io/hf_config.ts";
import { warmupStepsFromRatio } from "../optim/schedule.ts";
import { rewardNames } from "../rewards/combine.ts";
import { type ConfigLayer, didYouMean, resolveLayers, type TrainConfig } from "./config.ts";
import type { TranslatedRecipe } from "./run_config_trl.ts";

export const RECIPE_NAMES = ["demo", "tina", "trl"] as const;
export type RecipeName = typeof RECIPE_NAMES[number];

/**
 * The recipes. `tina` and `trl` are the presets as they are; `demo` is Tina's recipe scaled to
 * a tiny model: same loss, KL, clipping, schedule shape and LoRA targets; a larger learning
 * rate and batch for a 0.2M-parameter model, short prompts and completions.
 */
export const RECIPES: Readonly<Record<RecipeName, Readonly<Record<string, unknown>>>> = {
  demo: {
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
  },
  tina: { preset: "tina" },
  trl: { preset: "trl" },
};

/** Models below this many parameters get the demo recipe unless told otherwise. */
export const TINY_MODEL_PARAMS = 20_000_000;

/** The paper's evaluation sampling (arXiv 2504.15777), shared by train.ts and eval.ts. */
export const EVAL_SAMPLING: { readonly temperature: number; readonly topP: number } = Object
  .freeze({ temperature: 0.6, topP: 0.95 });
export const EVAL_DEFAULTS: Omit<EvalSettings, "maxNewTokens"> = Object.freeze({
  problems: 200,
  samples: 4,
  ...EVAL_SAMPLING,
});
/** Bounds that keep a mistyped count from becoming an allocation failure mid-run. */
export const EVAL_LIMITS: { readonly problems: number; readonly samples: number } = Object
  .freeze({ problems: 1_000_000, samples: 1024 });

/** How a problem is posed: the paper's math prompt, the built-in task's, or a user template. */
export type PromptSpec =
  | { readonly style: "paper" }
  | { readonly style: "task" }
  | {
    readonly style: "custom";
    /** Where it came from (a file path, "system_prompt of recipe.yaml"). */
    readonly source: string;
    readonly system: string | null;
    /** The user message; `{problem}` is replaced by the problem. */
    readonly user: string;
  };

export const PROBLEM_PLACEHOLDER = "{problem}";

export interface DataSource {
  readonly path: string;
  /** Column holding the problem (default: problem, question, prompt or messages). */
  readonly problemField: string | null;
  /** Column holding the gold answer (default: answer, else solution). */
  readonly answerField: string | null;
}

export interface EvalSettings {
  readonly problems: number;
  readonly samples: number;
  readonly temperature: number;
  readonly topP: number;
  readonly maxNewTokens: number;
}

/** A run, fully resolved: what run.json holds and a resume starts from. */
export interface RunSettings {
  readonly recipe: RecipeName;
  readonly model: string;
  readonly tokenizer: string;
  /** null: the built-in arithmetic task (train split). */
  readonly data: DataSource | null;
  /** null: the built-in held-out split when data is built in, else no evaluation. */
  readonly evalData: DataSource | null;
  readonly prompt: PromptSpec;
  readonly eval: EvalSettings;
  readonly train: TrainConfig;
}

/** What the command line said; every field absent unless the user typed it. */
export interface RunFlags {
  readonly recipe?: RecipeName;
  readonly model?: string;
  readonly tokenizer?: string;
  readonly data?: string;
  readonly evalData?: string;
  readonly problemField?: string;
  readonly answerField?: string;
  readonly prompt?: PromptSpec;
  readonly evalProblems?: number;
  readonly evalSamples?: number;
  readonly evalTemperature?: number;
  readonly evalTopP?: number;
  readonly evalMaxNewTokens?: number;
  /** TrainConfig fields set by flags (--steps, --lr, --lora-r, --rewards, ...). */
  readonly train: Readonly<Record<string, unknown>>;
}

export interface RunRequest {
  readonly flags: RunFlags;
  readonly file: { readonly source: string; readonly recipe: TranslatedRecipe } | null;
  readonly saved: { readonly source: string; readonly run: RunSettings } | null;
  readonly defaultModel: string;
}

/** What resolution needs to know about the model (read from its config.json). */
export interface ModelFacts {
  readonly config: ModelConfig;
  readonly parameters: number;
}

export interface ResolvedRun {
  readonly run: RunSettings;
  /** Choices made for the user and values translated or clamped, to print. */
  readonly notes: readonly string[];
}

/** The model directory a request names: flag, then config file, then the saved run. */
export const modelDirOf = (req: RunRequest): string =>
  req.flags.model ?? req.file?.recipe.run.model ?? req.saved?.run.model ?? req.defaultModel;

/** Parameters of a decoder from its config: embeddings, attention, MLP and norms. */
export const parameterCount = (c: ModelConfig): number => {
  const headDim = c.headDim ?? c.hiddenSize / c.numAttentionHeads;
  const attention = c.hiddenSize * headDim * (2 * c.numAttentionHeads + 2 * c.numKeyValueHeads);
  const mlp = 3 * c.hiddenSize * c.intermediateSize;
  const embeddings = c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2);
  return embeddings + c.numHiddenLayers * (attention + mlp + 2 * c.hiddenSize) + c.hiddenSize;
};

const humanCount = (n: number): string =>
  n >= 1e9
    ? `${(n / 1e9).toFixed(1)}B`
    : n >= 1e6
    ? `${Number((n / 1e6).toFixed(1))}M`
    : `${(n / 1e3).toFixed(0)}K`;

/**
 * `--rewards accuracy:2,format`: names checked, weights default to 1, every mistake listed
 * (empty list, empty or extra weight parts, unknown or repeated names).
 */
export const parseRewardsFlag = (
  text: string,
): Either<readonly string[], readonly { name: string; weight: number }[]> => {
  if (text.trim() === "") return left([`--rewards: empty; known: ${rewardNames.join(", ")}`]);
  const parts = text.split(",").map((part) => part.trim().split(":"));
  const problems = parts.flatMap(([name, ...weights], i) => [
    ...(rewardNames.includes(name) ? [] : [
      `--rewards: unknown reward "${name}"${didYouMean(name, rewardNames)}; known: ${
        rewardNames.join(", ")
      }`,
    ]),
    ...(weights.length > 1
      ? [`--rewards: "${parts[i].join(":")}" has more than one weight`]
      : weights.length === 1 && (weights[0].trim() === "" || !Number.isFinite(Number(weights[0])))
      ? [`--rewards: weight of "${name}" must be a number, got "${weights[0]}"`]
      : []),
    ...(parts.findIndex(([other]) => other === name) < i
      ? [`--rewards: "${name}" is listed twice`]
      : []),
  ]);
  return problems.length > 0 ? left(problems) : right(
    parts.map(([name, weight]) => ({ name, weight: weight === undefined ? 1 : Number(weight) })),
  );
};

const isSet = (layer: ConfigLayer | null, field: string): boolean =>
  layer !== null && (layer.values as Record<string, unknown>)[field] !== undefined;

/**
 * Prompt + completion must fit the model's positions. A length the user set that does not fit
 * is refused; a recipe's default is clamped, with a note.
 */
const fitLengths = (
  train: TrainConfig,
  context: number,
  explicit: boolean,
  where: string,
): Either<string, { train: TrainConfig; note: string | null }> => {
  const { maxPromptLength: prompt, maxCompletionLength: completion } = train;
  if (prompt + completion <= context) return right({ train, note: null });
  const what = `maxPromptLength ${prompt} + maxCompletionLength ${completion} = ${
    prompt + completion
  } tokens exceed the model's ${context} positions (max_position_embeddings in ${where})`;
  if (explicit) return left(`${what}; lower them`);
  const fittedPrompt = Math.min(prompt, Math.floor(context / 2));
  const fitted = {
    ...train,
    maxPromptLength: fittedPrompt,
    maxCompletionLength: context - fittedPrompt,
  };
  return right({
    train: Object.freeze(fitted),
    note: `${what}: clamped to ${fittedPrompt} + ${context - fittedPrompt}`,
  });
};

const sameLora = (a: TrainConfig["lora"], b: TrainConfig["lora"]): boolean =>
  JSON.stringify(a) === JSON.stringify(b);

/** Refusals specific to --resume: what would make the saved checkpoints unusable. */
const resumeProblems = (
  saved: RunSettings,
  next: TrainConfig,
  req: RunRequest,
  source: string,
): readonly string[] => [
  ...(sameLora(saved.train.lora, next.lora) ? [] : [
    `the run in ${source} trains LoRA ${JSON.stringify(saved.train.lora)}; a resumed run keeps ` +
    `its adapter's shape (got ${JSON.stringify(next.lora)}); start a new run with --out`,
  ]),
  ...(req.flags.recipe !== undefined && req.flags.recipe !== saved.recipe
    ? [
      `--recipe ${req.flags.recipe}: the run in ${source} used recipe ${saved.recipe}; a resumed ` +
      `run keeps its recipe (change single settings with flags)`,
    ]
    : []),
  ...(req.flags.model !== undefined && req.flags.model !== saved.model
    ? [`--model ${req.flags.model}: the run in ${source} trains ${saved.model}`]
    : []),
];

const defaultRecipe = (model: ModelFacts): RecipeName =>
  model.parameters < TINY_MODEL_PARAMS ? "demo" : "tina";

const dataOf = (
  path: string | undefined,
  flags: RunFlags,
  saved: DataSource | null | undefined,
  problemFromFile?: string,
): DataSource | null => {
  const base = path !== undefined ? { path, problemField: null, answerField: null } : saved ?? null;
  return base && {
    path: base.path,
    problemField: flags.problemField ?? problemFromFile ?? base.problemField,
    answerField: flags.answerField ?? base.answerField,
  };
};

/** The whole run from a request and the model's facts, or every problem found. */
export const resolveRun = (
  req: RunRequest,
  model: ModelFacts,
): Either<readonly string[], ResolvedRun> => {
  const { flags, file, saved } = req;
  const notes: string[] = [];
  const recipe = flags.recipe ?? saved?.run.recipe ?? defaultRecipe(model);
  if (flags.recipe === undefined && saved === null) {
    notes.push(
      `recipe ${recipe}: chosen for a ${humanCount(model.parameters)}-parameter model ` +
        `(below ${humanCount(TINY_MODEL_PARAMS)} gets demo; --recipe demo|tina|trl to choose)`,
    );
  }
  const fileLayer: ConfigLayer | null = file
    ? { source: file.source, values: file.recipe.train }
    : null;
  const flagLayer: ConfigLayer = { source: "command line", values: flags.train };
  const baseLayer: ConfigLayer = saved
    ? { source: saved.source, values: saved.run.train }
    : { source: `recipe ${recipe}`, values: RECIPES[recipe] };
  const layers = [baseLayer, ...(fileLayer ? [fileLayer] : []), flagLayer];
  const resolved = resolveLayers(layers);
  if (file) {
    notes.push(...file.recipe.notes.map((n) => `${file.source}: ${n}`));
    if (file.recipe.ignored.length > 0) {
      notes.push(
        `${file.source}: ignored (TRL/transformers settings tina-ts does not use): ${
          file.recipe.ignored.join(", ")
        }`,
      );
    }
  }
  const fileProblems = file ? file.recipe.problems.map((p) => `${file.source}: ${p}`) : [];
  if (isLeft(resolved) || fileProblems.length > 0) {
    return left([...fileProblems, ...(isLeft(resolved) ? resolved.left : [])]);
  }
  const context = model.config.maxPositionEmbeddings;
  const explicitLength = [fileLayer, flagLayer].some((l) =>
    isSet(l, "maxCompletionLength") || isSet(l, "maxPromptLength")
  );
  const modelDir = modelDirOf(req);
  const fitted = fitLengths(resolved.right, context, explicitLength, `${modelDir}/config.json`);
  if (isLeft(fitted)) return left([fitted.left]);
  if (fitted.right.note) notes.push(fitted.right.note);
  const train = fitted.right.train;
  const problems: string[] = [];
  if (train.lora && train.lora.r > model.config.hiddenSize) {
    problems.push(
      `lora.r ${train.lora.r} exceeds the model's hidden size ${model.config.hiddenSize}`,
    );
  }
  if (saved) problems.push(...resumeProblems(saved.run, train, req, saved.source));
  const horizonOf = (c: TrainConfig) => c.scheduleSteps ?? c.maxSteps;
  if (saved && horizonOf(saved.run.train) !== horizonOf(train)) {
    notes.push(
      `the learning-rate schedule's horizon moves from ${horizonOf(saved.run.train)} to ` +
        `${horizonOf(train)} steps (it follows maxSteps; set scheduleSteps to pin it)`,
    );
  }

  const system = file?.recipe.run.system;
  const prompt: PromptSpec = flags.prompt ??
    (system !== undefined
      ? {
        style: "custom",
        source: `system_prompt of ${file!.source}`,
        system,
        user: PROBLEM_PLACEHOLDER,
      }
      : saved?.run.prompt ?? (recipe === "demo" ? { style: "task" } : { style: "paper" }));
  if (flags.prompt === undefined && system === undefined && saved === null) {
    notes.push(`prompt ${prompt.style}: the ${recipe} recipe's default (--prompt paper|task|FILE)`);
  }

  const savedEval = saved?.run.eval;
  const maxNewTokens = flags.evalMaxNewTokens ??
    (savedEval && saved!.run.train.maxCompletionLength === train.maxCompletionLength
      ? savedEval.maxNewTokens
      : train.maxCompletionLength);
  if (train.maxPromptLength + maxNewTokens > context) {
    problems.push(
      `--eval-max-new-tokens ${maxNewTokens} + maxPromptLength ${train.maxPromptLength} exceed ` +
        `the model's ${context} positions`,
    );
  }
  const evalSettings: EvalSettings = {
    problems: flags.evalProblems ?? savedEval?.problems ?? EVAL_DEFAULTS.problems,
    samples: flags.evalSamples ?? savedEval?.samples ?? EVAL_DEFAULTS.samples,
    temperature: flags.evalTemperature ?? savedEval?.temperature ?? EVAL_DEFAULTS.temperature,
    topP: flags.evalTopP ?? savedEval?.topP ?? EVAL_DEFAULTS.topP,
    maxNewTokens,
  };
  if (problems.length > 0) return left(problems);
  const fileRun = file?.recipe.run ?? {};
  return right({
    run: {
      recipe,
      model: modelDir,
      tokenizer: flags.tokenizer ?? saved?.run.tokenizer ?? modelDir,
      data: dataOf(flags.data ?? fileRun.data, flags, saved?.run.data, fileRun.problemField),
      evalData: dataOf(flags.evalData, flags, saved?.run.evalData),
      prompt,
      eval: evalSettings,
      train,
    },
    notes,
  });
};

const promptName = (p: PromptSpec): string =>
  p.style === "custom" ? `custom (${p.source})` : p.style;

const dataName = (d: DataSource | null, builtIn: string): string =>
  d === null ? builtIn : [
    d.path,
    ...(d.problemField ? [`problem column "${d.problemField}"`] : []),
    ...(d.answerField ? [`answer column "${d.answerField}"`] : []),
  ].join(", ");

/** The effective config, as printed at start: what runs, with the values users ask about. */
export const describeRun = (run: RunSettings, context: number): string => {
  const t = run.train;
  const horizon = t.scheduleSteps ?? t.maxSteps;
  const warmup = warmupStepsFromRatio(t.warmupRatio, horizon);
  const lora = t.lora
    ? `LoRA r ${t.lora.r}, alpha ${t.lora.alpha} (scaling ${
      t.lora.rslora ? (t.lora.alpha / Math.sqrt(t.lora.r)).toFixed(3) : t.lora.alpha / t.lora.r
    }), dropout ${t.lora.dropout}, targets ${t.lora.targets.join(",")}`
    : "full fine-tuning (no LoRA)";
  const e = run.eval;
  const evaluation = run.evalData === null && run.data !== null
    ? "none (no --eval-data)"
    : `${
      dataName(run.evalData, "built-in held-out split")
    }: up to ${e.problems} problems × ${e.samples} sample${e.samples === 1 ? "" : "s"}`;
  return [
    `effective config (recipe ${run.recipe}; precedence: recipe < config file < flags, or saved run < flags on --resume):`,
    `  model      ${run.model} (${context} positions)`,
    `  data       ${dataName(run.data, "built-in arithmetic task")}`,
    `  prompt     ${promptName(run.prompt)}`,
    `  steps      ${t.maxSteps}: ${t.promptsPerStep} prompts × ${t.numGenerations} completions each, ` +
    `${t.gradientAccumulationSteps} micro-batch${t.gradientAccumulationSteps === 1 ? "" : "es"}`,
    `  lr         ${t.learningRate} (${t.lrScheduler}, warm-up ${warmup} step${
      warmup === 1 ? "" : "s"
    }, horizon ${horizon})`,
    `  ${lora}`,
    `  rewards    ${
      t.rewards.map((r) => `${r.name}×${r.weight}`).join(", ")
    }; loss ${t.lossType}, beta ${t.beta}`,
    `  lengths    prompt ≤ ${t.maxPromptLength} + completion ≤ ${t.maxCompletionLength} of ${context} positions`,
    `  sampling   train: temperature ${t.temperature}, top-p ${t.topP}; ` +
    `eval: temperature ${e.temperature}, top-p ${e.topP}, ≤ ${e.maxNewTokens} new tokens`,
    `  eval       ${evaluation}`,
  ].join("\n");
};
