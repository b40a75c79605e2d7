/**
 * The file side of run configs: reading a recipe file (JSON or YAML), a prompt template, the
 * saved run of a run directory, and deciding whether --out may be written — all before
 * anything is written, so a refusal leaves the disk as it was.
 */
import * as t from "io-ts";
import { isLeft } from "fp-ts/lib/Either.js";
import { readdir, readFile, rm } from "node:fs/promises";
import { extname, join } from "node:path";
import { parseDocument } from "yaml";
import { writeFileAtomic } from "../io/atomic.ts";
import {
  decodeWith,
  NonNegativeInt,
  PositiveInt,
  PositiveNumber,
  refine,
} from "../io/json_codec.ts";
import { readModelConfig } from "../io/hf_config.ts";
import { resolveLayers } from "./config.ts";
import {
  modelDirOf,
  parameterCount,
  PROBLEM_PLACEHOLDER,
  type PromptSpec,
  RECIPE_NAMES,
  type ResolvedRun,
  resolveRun,
  type RunFlags,
  type RunSettings,
} from "./run_config.ts";
import { type TranslatedRecipe, translateRecipe } from "./run_config_trl.ts";

/** The saved run of a run directory; config.json beside it holds the TrainConfig alone. */
export const RUN_FILE = "run.json";

/** What a run directory holds; --overwrite removes exactly these. */
export const RUN_ARTIFACTS = [
  RUN_FILE,
  "config.json",
  "metrics.jsonl",
  "checkpoints",
  "adapter",
  "model",
  "eval_before.json",
  "eval_after.json",
  "summary.json",
  "report.html",
] as const;

const readText = (path: string, what: string): Promise<string> =>
  readFile(path, "utf8").catch((e: Error) => {
    throw new Error(`${what} ${path}: cannot read: ${e.message}`);
  });

/** A recipe file's values: YAML for .yaml/.yml, JSON otherwise; parse errors give the line. */
export const parseRecipeText = (text: string, path: string): unknown => {
  const ext = extname(path).toLowerCase();
  if (ext === ".yaml" || ext === ".yml") {
    const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length > 0) {
      throw new Error(doc.errors.map((e) => `${path}: ${e.message.split("\n")[0]}`).join("\n"));
    }
    return doc.toJS();
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: invalid JSON: ${(e as Error).message}`);
  }
};

/** --config FILE: our field names or TRL/PEFT/open-r1 ones, translated; structure checked. */
export const readRecipeFile = async (
  path: string,
): Promise<{ source: string; recipe: TranslatedRecipe }> => {
  const values = parseRecipeText(await readText(path, "--config"), path);
  if (values === null || typeof values !== "object" || Array.isArray(values)) {
    throw new Error(
      `${path}: expected a mapping of config fields, got ${JSON.stringify(values) ?? "nothing"}`,
    );
  }
  return { source: path, recipe: translateRecipe(values as Record<string, unknown>) };
};

/** --prompt paper|task|FILE: a file is the user message, with {problem} where the problem goes. */
export const readPromptFlag = async (value: string): Promise<PromptSpec> => {
  if (value === "paper" || value === "task") return { style: value };
  const user = await readText(value, "--prompt").catch((e: Error) => {
    throw new Error(`${e.message} (--prompt takes paper, task or a template file)`);
  });
  if (!user.includes(PROBLEM_PLACEHOLDER)) {
    throw new Error(`--prompt ${value}: the template has no ${PROBLEM_PLACEHOLDER} placeholder`);
  }
  return { style: "custom", source: value, system: null, user: user.replace(/\n$/, "") };
};

const DataSourceCodec = t.union([
  t.null,
  t.type({
    path: t.string,
    problemField: t.union([t.string, t.null]),
    answerField: t.union([t.string, t.null]),
  }),
]);

const RunFileCodec = t.type({
  recipe: t.keyof(Object.fromEntries(RECIPE_NAMES.map((r) => [r, null])) as Record<string, null>),
  model: t.string,
  tokenizer: t.string,
  data: DataSourceCodec,
  evalData: DataSourceCodec,
  prompt: t.union([
    t.type({ style: t.literal("paper") }),
    t.type({ style: t.literal("task") }),
    t.type({
      style: t.literal("custom"),
      source: t.string,
      system: t.union([t.string, t.null]),
      user: t.string,
    }),
  ]),
  eval: t.type({
    problems: NonNegativeInt,
    samples: PositiveInt,
    temperature: refine(t.number, (x) => x >= 0, "a number >= 0"),
    topP: PositiveNumber,
    maxNewTokens: PositiveInt,
  }),
  train: t.UnknownRecord,
});

/** The run saved in `dir` (for --resume), checked like any config; errors name the file. */
export const readSavedRun = async (
  dir: string,
): Promise<{ source: string; run: RunSettings }> => {
  const path = join(dir, RUN_FILE);
  const text = await readFile(path, "utf8").catch(() => {
    throw new Error(`--resume ${dir}: no ${RUN_FILE} there (is it a run directory?)`);
  });
  const decoded = decodeWith(RunFileCodec, parseRecipeText(text, path), path);
  if (isLeft(decoded)) throw new Error(decoded.left);
  const train = resolveLayers([{ source: path, values: decoded.right.train }]);
  if (isLeft(train)) throw new Error(train.left.join("\n"));
  return { source: path, run: { ...decoded.right, train: train.right } as RunSettings };
};

/**
 * Whether --out may be used: a fresh run needs an empty or new directory unless --overwrite;
 * --resume needs a saved run. Returns the problem, or null.
 */
export const outDirProblem = async (
  out: string,
  mode: { readonly resume: boolean; readonly overwrite: boolean },
): Promise<string | null> => {
  const entries = await readdir(out).catch(() => null);
  if (mode.resume) {
    return entries?.includes(RUN_FILE)
      ? null
      : `--resume ${out}: no ${RUN_FILE} there (is it a run directory?)`;
  }
  const held = (entries ?? []).filter((e) => (RUN_ARTIFACTS as readonly string[]).includes(e));
  return held.length === 0 || mode.overwrite
    ? null
    : `--out ${out} holds another run (${
      held.join(", ")
    }); use --resume ${out} to continue it, --overwrite to replace it, or another --out`;
};

/** --overwrite: removes the previous run's artifacts (and nothing else) from `out`. */
export const clearRun = (out: string): Promise<void> =>
  Promise.all(RUN_ARTIFACTS.map((a) => rm(join(out, a), { recursive: true, force: true })))
    .then(() => undefined);

export const writeRunFile = (out: string, run: RunSettings): Promise<void> =>
  writeFileAtomic(join(out, RUN_FILE), JSON.stringify(run, null, 2) + "\n");

/** What a program was asked for: flags plus the files they name. */
export interface RunAsked {
  readonly flags: Omit<RunFlags, "prompt">;
  /** --prompt: paper, task or a template file. */
  readonly prompt?: string;
  readonly configFile?: string;
  readonly out: string;
  readonly resume: boolean;
  readonly overwrite: boolean;
  readonly defaultModel: string;
}

/**
 * The run a program was asked for: reads the saved run (--resume), the config file, the prompt
 * template and the model's config.json, checks --out, and resolves — every problem as one
 * error, before anything is written. `context` is the model's max_position_embeddings.
 */
export const loadRunSettings = async (
  asked: RunAsked,
): Promise<ResolvedRun & { readonly context: number }> => {
  const saved = asked.resume ? await readSavedRun(asked.out) : null;
  const outProblem = await outDirProblem(asked.out, asked);
  if (outProblem) throw new Error(outProblem);
  const file = asked.configFile ? await readRecipeFile(asked.configFile) : null;
  const prompt = asked.prompt === undefined ? undefined : await readPromptFlag(asked.prompt);
  const request = {
    flags: { ...asked.flags, ...(prompt === undefined ? {} : { prompt }) },
    file,
    saved,
    defaultModel: asked.defaultModel,
  };
  const modelConfig = await readModelConfig(modelDirOf(request));
  const resolved = resolveRun(request, {
    config: modelConfig,
    parameters: parameterCount(modelConfig),
  });
  if (isLeft(resolved)) throw new Error(resolved.left.join("\n"));
  return { ...resolved.right, context: modelConfig.maxPositionEmbeddings };
};
