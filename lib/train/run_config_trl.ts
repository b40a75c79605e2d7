/**
 * Config files written in Hugging Face names: TRL's GRPOConfig, PEFT's LoraConfig and
 * open-r1's script arguments (`learning_rate`, `lora_r`, `reward_funcs`, `model_name_or_path`,
 * ...), translated to our fields so an open-r1 recipe like Tina's runs with at most the model
 * and dataset paths changed. Keys we know but do not use are listed as ignored, not dropped.
 */
import { PROJS } from "../io/weight_layout.ts";
import { closestName, TrainConfigCodec } from "./config.ts";

/** A TRL/open-r1 file, split into our training fields, run-level fields and what we ignore. */
export interface TranslatedRecipe {
  /** Fields of TrainConfig (native names pass through unchanged). */
  readonly train: Readonly<Record<string, unknown>>;
  readonly run: {
    readonly model?: string;
    readonly data?: string;
    readonly problemField?: string;
    readonly system?: string;
  };
  /** Keys accepted as TRL/transformers settings that have no effect here. */
  readonly ignored: readonly string[];
  /** How a TRL value became ours, where that is not a plain rename (printed for the user). */
  readonly notes: readonly string[];
  readonly problems: readonly string[];
}

/** TRL / transformers names that are plain renames of ours. */
const RENAMES: Readonly<Record<string, string>> = {
  learning_rate: "learningRate",
  num_generations: "numGenerations",
  max_completion_length: "maxCompletionLength",
  max_prompt_length: "maxPromptLength",
  loss_type: "lossType",
  epsilon_high: "epsilonHigh",
  num_iterations: "numIterations",
  mask_truncated_completions: "maskTruncatedCompletions",
  top_p: "topP",
  max_steps: "maxSteps",
  gradient_accumulation_steps: "gradientAccumulationSteps",
  adam_beta1: "adamBeta1",
  adam_beta2: "adamBeta2",
  adam_epsilon: "adamEpsilon",
  weight_decay: "weightDecay",
  max_grad_norm: "maxGradNorm",
  lr_scheduler_type: "lrScheduler",
  warmup_ratio: "warmupRatio",
  save_steps: "checkpointEvery",
};

const LORA_RENAMES: Readonly<Record<string, string>> = {
  lora_r: "r",
  lora_alpha: "alpha",
  lora_dropout: "dropout",
  lora_target_modules: "targets",
  use_rslora: "rslora",
};

/** open-r1's reward_funcs names that differ from ours. */
const REWARD_ALIASES: Readonly<Record<string, string>> = {
  repetition_penalty: "repetition",
  soft_overlong_punishment: "soft_overlong",
};

/** open-r1 script arguments that configure a reward function: [reward, option]. */
const REWARD_OPTIONS: Readonly<Record<string, readonly [string, string]>> = {
  cosine_min_value_wrong: ["cosine", "minValueWrong"],
  cosine_max_value_wrong: ["cosine", "maxValueWrong"],
  cosine_min_value_correct: ["cosine", "minValueCorrect"],
  cosine_max_value_correct: ["cosine", "maxValueCorrect"],
  cosine_max_len: ["cosine", "maxLen"],
  repetition_n_grams: ["repetition", "ngramSize"],
  repetition_max_penalty: ["repetition", "maxPenalty"],
  max_completion_len: ["soft_overlong", "maxCompletionLength"],
  soft_punish_cache: ["soft_overlong", "softPunishCache"],
};

/** Keys with special handling below. */
const SPECIAL = [
  "epsilon",
  "top_k",
  "scale_rewards",
  "lr_scheduler_kwargs",
  "use_peft",
  "reward_funcs",
  "reward_weights",
  "per_device_train_batch_size",
  "model_name_or_path",
  "dataset_name",
  "dataset_prompt_column",
  "system_prompt",
];

/** Every Hugging Face name this module reads. */
export const TRL_NAMES: readonly string[] = [
  ...Object.keys(RENAMES),
  ...Object.keys(LORA_RENAMES),
  ...Object.keys(REWARD_OPTIONS),
  ...SPECIAL,
];

const NATIVE_NAMES = Object.keys(TrainConfigCodec.props);

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/** PEFT module names ("q_proj", "all-linear") as our projection names. */
const targetsOf = (value: unknown): { targets?: unknown; problem?: string } => {
  if (value === "all-linear") return { targets: [...PROJS] };
  if (!Array.isArray(value)) return { targets: value };
  const names = value.map((m) => typeof m === "string" ? m.replace(/_proj$/, "") : m);
  const bad = names.filter((n) => !(PROJS as readonly unknown[]).includes(n));
  return bad.length === 0 ? { targets: names } : {
    problem: `field "lora_target_modules": unknown module(s) ${JSON.stringify(bad)}; ` +
      `known: ${PROJS.map((p) => `${p}_proj`).join(", ")} or "all-linear"`,
  };
};

const rewardsOf = (
  values: Record<string, unknown>,
): { rewards?: unknown; problems: readonly string[] } => {
  const funcs = values.reward_funcs;
  const weights = values.reward_weights;
  if (funcs === undefined) {
    return {
      problems: weights === undefined ? [] : [`field "reward_weights" needs "reward_funcs"`],
    };
  }
  if (!Array.isArray(funcs) || funcs.some((f) => typeof f !== "string")) {
    return {
      problems: [`field "reward_funcs": expected a list of names, got ${JSON.stringify(funcs)}`],
    };
  }
  if (weights !== undefined && (!Array.isArray(weights) || weights.length !== funcs.length)) {
    return {
      problems: [
        `field "reward_weights": expected ${funcs.length} numbers (one per reward_funcs entry), got ${
          JSON.stringify(weights)
        }`,
      ],
    };
  }
  const options = Object.entries(REWARD_OPTIONS).filter(([key]) => values[key] !== undefined);
  return {
    problems: [],
    rewards: funcs.map((f: string, i) => {
      const name = REWARD_ALIASES[f] ?? f;
      const own = options.filter(([, [reward]]) => reward === name);
      return {
        name,
        weight: weights === undefined ? 1 : (weights as unknown[])[i],
        ...(own.length === 0
          ? {}
          : { options: Object.fromEntries(own.map(([key, [, opt]]) => [opt, values[key]])) }),
      };
    }),
  };
};

/** TRL's per-device batch counts completions: prompts per step = batch × accumulation / G. */
const promptsPerStepOf = (values: Record<string, unknown>) => {
  const batch = values.per_device_train_batch_size;
  if (batch === undefined) return {};
  const accumulation = (values.gradient_accumulation_steps ?? 1) as number;
  const generations = values.num_generations as number | undefined;
  if (typeof batch !== "number" || generations === undefined) {
    return {
      problem: `field "per_device_train_batch_size" needs a number and "num_generations" beside it`,
    };
  }
  const prompts = (batch * accumulation) / generations;
  return Number.isInteger(prompts) && prompts > 0
    ? {
      prompts,
      note: `promptsPerStep ${prompts} = per_device_train_batch_size ${batch} × ` +
        `gradient_accumulation_steps ${accumulation} / num_generations ${generations} (one process)`,
    }
    : {
      problem:
        `per_device_train_batch_size ${batch} × gradient_accumulation_steps ${accumulation} ` +
        `must be a multiple of num_generations ${generations}`,
    };
};

const scaleRewardsOf = (v: unknown): unknown => v === true ? "group" : v === false ? "none" : v;

/**
 * Splits a config file's values into ours. Native names pass through; TRL/PEFT/open-r1 names
 * are translated; other lower-case keys are TRL or transformers settings we do not use, listed
 * as ignored — unless they look like a typo of a name we read, which is a problem.
 */
export const translateRecipe = (values: Record<string, unknown>): TranslatedRecipe => {
  const known = [...NATIVE_NAMES, ...TRL_NAMES];
  // Our own fields in snake_case (gradient_checkpointing, max_bad_steps) are ours.
  const snakeNative = Object.fromEntries(
    Object.keys(values).flatMap((k) => {
      const camel = k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
      return k.includes("_") && NATIVE_NAMES.includes(camel) ? [[k, camel]] : [];
    }),
  );
  const keys = Object.keys(values);
  const leftover = keys.filter((k) => !known.includes(k) && snakeNative[k] === undefined);
  // One edit from a name we read is a typo, not a TRL setting (eval_steps is not save_steps).
  const typos = leftover.filter((k) => /[A-Z]/.test(k) || closestName(k, known, 1, false) !== null);
  const ignored = leftover.filter((k) => !typos.includes(k));
  const lora: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [trl, ours] of Object.entries(LORA_RENAMES)) {
    if (values[trl] === undefined) continue;
    if (trl === "lora_target_modules") {
      const { targets, problem } = targetsOf(values[trl]);
      if (problem) problems.push(problem);
      else lora.targets = targets;
    } else lora[ours] = values[trl];
  }
  const rewards = rewardsOf(values);
  problems.push(...rewards.problems);
  const batch = promptsPerStepOf(values);
  if (batch.problem) problems.push(batch.problem);
  const minLr = isRecord(values.lr_scheduler_kwargs)
    ? values.lr_scheduler_kwargs.min_lr_rate
    : undefined;
  const native = Object.fromEntries([
    ...keys.filter((k) => NATIVE_NAMES.includes(k) || typos.includes(k)).map((k) => [k, values[k]]),
    ...Object.entries(snakeNative).map(([k, camel]) => [camel, values[k]]),
  ]);
  const renamed = Object.fromEntries(
    Object.entries(RENAMES).filter(([trl]) => values[trl] !== undefined)
      .map(([trl, ours]) => [ours, values[trl]]),
  );
  const epsilon = values.epsilon;
  const train: Record<string, unknown> = {
    ...native,
    ...renamed,
    ...(epsilon === undefined ? {} : {
      epsilonLow: epsilon,
      ...(values.epsilon_high === undefined ? { epsilonHigh: epsilon } : {}),
    }),
    ...(values.top_k === undefined
      ? {}
      : { topK: typeof values.top_k === "number" && values.top_k <= 0 ? null : values.top_k }),
    ...(values.scale_rewards === undefined
      ? {}
      : { scaleRewards: scaleRewardsOf(values.scale_rewards) }),
    ...(minLr === undefined ? {} : { minLrRatio: minLr }),
    ...(rewards.rewards === undefined ? {} : { rewards: rewards.rewards }),
    ...(batch.prompts === undefined ? {} : { promptsPerStep: batch.prompts }),
    ...(values.use_peft === false
      ? { lora: null }
      : Object.keys(lora).length > 0
      ? { lora: { ...(native.lora as object ?? {}), ...lora } }
      : {}),
  };
  const str = (k: string) => typeof values[k] === "string" ? values[k] as string : undefined;
  for (
    const k of ["model_name_or_path", "dataset_name", "dataset_prompt_column", "system_prompt"]
  ) {
    if (values[k] !== undefined && str(k) === undefined) {
      problems.push(`field "${k}": expected a string, got ${JSON.stringify(values[k])}`);
    }
  }
  return {
    train,
    run: {
      ...(str("model_name_or_path") === undefined ? {} : { model: str("model_name_or_path") }),
      ...(str("dataset_name") === undefined ? {} : { data: str("dataset_name") }),
      ...(str("dataset_prompt_column") === undefined
        ? {}
        : { problemField: str("dataset_prompt_column") }),
      ...(str("system_prompt") === undefined ? {} : { system: str("system_prompt") }),
    },
    ignored,
    notes: batch.note ? [batch.note] : [],
    problems,
  };
};
