/**
 * The training configuration: one immutable value, built from a preset plus overrides and
 * checked by an io-ts codec, so a bad config file or flag names the field at fault.
 *
 * Presets: `tina` reproduces the paper's TRL 0.15.2 semantics (arXiv 2504.15777); `trl` follows
 * TRL 1.x defaults. Every knob can be overridden.
 */
import * as t from "io-ts";
import { type Either, isLeft, left, right } from "fp-ts/lib/Either.js";
import {
  decodeWith,
  NonNegativeInt,
  PositiveInt,
  PositiveNumber,
  refine,
} from "../io/json_codec.ts";
import { type Proj, PROJS } from "../io/weight_layout.ts";
import { makeReward, rewardNames } from "../rewards/combine.ts";
import { isAdamBeta } from "../optim/adamw.ts";
import { SCALE_REWARDS, type ScaleRewards } from "../rl/advantages.ts";
import { LOSS_BOUNDS, LOSS_TYPES, type LossType } from "../rl/loss.ts";

const NonNegative = refine(t.number, (n) => Number.isFinite(n) && n >= 0, "a non-negative number");
const Fraction = refine(t.number, (n) => n >= 0 && n <= 1, "a number in [0, 1]");
const Probability = refine(t.number, (n) => n > 0 && n <= 1, "a number in (0, 1]");
/** One of `values`: the enum the code itself switches on. */
const oneOf = <T extends string>(values: readonly T[]) =>
  t.keyof(Object.fromEntries(values.map((v) => [v, null])) as Record<T, null>);
const ProjCodec = oneOf(PROJS);
const AdamBeta = refine(t.number, isAdamBeta, "a number in [0, 1)");

/**
 * `codec` or null. Unlike a union, a non-null value's errors name the inner field
 * ("lora.r: expected ...") instead of dumping the whole type.
 */
const nullOr = <A>(codec: t.Type<A, A, unknown>): t.Type<A | null, A | null, unknown> =>
  new t.Type<A | null, A | null, unknown>(
    `${codec.name} or null`,
    (u): u is A | null => u === null || codec.is(u),
    (u, c) => (u === null ? t.success(null) : codec.validate(u, c)),
    t.identity,
  );

/** Past any model's width: a mistyped rank is refused before anything is allocated. */
const MAX_LORA_RANK = 65536;

const LoraCodec = t.type({
  r: refine(
    t.number,
    (n) => Number.isInteger(n) && n > 0 && n <= MAX_LORA_RANK,
    `a positive integer <= ${MAX_LORA_RANK}`,
  ),
  alpha: PositiveNumber,
  dropout: refine(t.number, (n) => n >= 0 && n < 1, "a number in [0, 1)"),
  targets: t.readonlyArray(ProjCodec),
  rslora: t.boolean,
});

const RewardSpecCodec = t.intersection([
  t.type({ name: t.string, weight: refine(t.number, Number.isFinite, "a finite number") }),
  t.partial({ options: t.record(t.string, t.number) }),
]);

/** LoRA settings of a run (PEFT's r, lora_alpha, lora_dropout, target_modules, use_rslora). */
export interface LoraSettings {
  /** The adapters' rank. */
  readonly r: number;
  /** Scaling numerator: the update is (alpha / r) · B·A, or alpha / √r with rsLoRA. */
  readonly alpha: number;
  /** Dropout on the adapters' input during training, in [0, 1). */
  readonly dropout: number;
  /** The projections that get adapters. */
  readonly targets: readonly Proj[];
  /** Rank-stabilized scaling (alpha / √r). */
  readonly rslora: boolean;
}

/** A reward of the config, by a built-in's name (rewards/combine.ts). */
export interface ConfigReward {
  /** One of rewardNames. */
  readonly name: string;
  /** Its weight in the total reward. */
  readonly weight: number;
  /** Options over the reward's defaults. */
  readonly options?: Readonly<Record<string, number>>;
}

/**
 * Every knob of a GRPO run, TRL's names in camelCase. Build one with {@link resolveConfig}
 * (a preset plus overrides, checked), never by hand.
 */
export interface TrainConfig {
  /** The preset the other fields were filled from. */
  readonly preset: "tina" | "trl";
  /** The run's seed: adapters' init, data order, sampling, dropout. */
  readonly seed: number;
  /** Optimizer updates to run. */
  readonly maxSteps: number;
  /** Prompts per optimizer step (each gets numGenerations completions). */
  readonly promptsPerStep: number;
  /** Completions per prompt (the group GRPO compares within), at least 2. */
  readonly numGenerations: number;
  /** Micro-batches per optimizer step; promptsPerStep must divide evenly. */
  readonly gradientAccumulationSteps: number;
  /** Sampling temperature of the rollouts. */
  readonly temperature: number;
  /** Nucleus sampling mass in (0, 1]. */
  readonly topP: number;
  /** Top-k sampling, or null for none. */
  readonly topK: number | null;
  /** Prompts are cut on the left to this many tokens. */
  readonly maxPromptLength: number;
  /** Completions stop after this many tokens. */
  readonly maxCompletionLength: number;
  /** How the per-token loss is averaged (TRL's loss_type). */
  readonly lossType: LossType;
  /** KL coefficient β against the adapter-free reference. */
  readonly beta: number;
  /** Lower clipping range ε of the ratio. */
  readonly epsilonLow: number;
  /** Upper clipping range (DAPO's ε-high; equal to epsilonLow for symmetric clipping). */
  readonly epsilonHigh: number;
  /** Two-sided clipping bound δ (> 1), or null. */
  readonly delta: number | null;
  /** Reward standardization: per group, per batch, or none (Dr. GRPO). */
  readonly scaleRewards: ScaleRewards;
  /** μ: optimizer updates per generation batch. */
  readonly numIterations: number;
  /** Drop completions cut at maxCompletionLength from the loss. */
  readonly maskTruncatedCompletions: boolean;
  /** TRL >= 0.16 divides logits by the sampling temperature before taking log-probs; 0.15.2 did not. */
  readonly temperatureInLogprobs: boolean;
  /**
   * Off-policy correction for rollouts from an inference engine (TRL's
   * vllm_importance_sampling_*, lib/rl/importance.ts): "off" or the mode. Never applied to
   * in-process rollouts, whose log-probs are the learner's own.
   */
  readonly importanceSampling:
    | "off"
    | "token_truncate"
    | "token_mask"
    | "sequence_truncate"
    | "sequence_mask";
  /** Lower clip of the importance ratio, or null. */
  readonly importanceSamplingClipMin: number | null;
  /** Upper clip of the importance ratio. */
  readonly importanceSamplingClipMax: number;
  /** Peak learning rate. */
  readonly learningRate: number;
  /** Adam's first-moment decay. */
  readonly adamBeta1: number;
  /** Adam's second-moment decay. */
  readonly adamBeta2: number;
  /** Adam's epsilon. */
  readonly adamEpsilon: number;
  /** Decoupled weight decay (AdamW). */
  readonly weightDecay: number;
  /** Clip gradients to this global norm, or null. */
  readonly maxGradNorm: number | null;
  /** The learning-rate schedule's shape. */
  readonly lrScheduler: "constant" | "linear" | "cosine" | "cosine_with_min_lr";
  /** Share of the schedule spent warming up. */
  readonly warmupRatio: number;
  /** The cosine schedule's floor, as a share of the peak. */
  readonly minLrRatio: number;
  /** The schedule's horizon; Tina decays over more steps than it runs. Default: maxSteps. */
  readonly scheduleSteps: number | null;
  /** null trains every base parameter instead (for comparison). */
  readonly lora: LoraSettings | null;
  /** Built-in rewards by name, weighted (TRL's reward_funcs and reward_weights). */
  readonly rewards: readonly ConfigReward[];
  /** Save a checkpoint every this many updates (0: only at the end). */
  readonly checkpointEvery: number;
  /** Stop after this many consecutive steps with a non-finite loss or gradient. */
  readonly maxBadSteps: number;
  /**
   * Keep only each decoder layer's input for the backward pass and recompute the rest there
   * (TRL's gradient_checkpointing): activation memory of a few layers' worth instead of all.
   */
  readonly gradientCheckpointing: boolean;
  /** For the cost ledger: what an hour of this machine costs, in dollars. */
  readonly costPerHour: number;
}

/** The codec that checks a whole config; `props` names every field. */
export const TrainConfigCodec:
  & t.Type<TrainConfig, TrainConfig, unknown>
  & { readonly props: Readonly<Record<keyof TrainConfig, t.Mixed>> } = t.type({
    preset: t.keyof({ tina: null, trl: null }),
    seed: NonNegativeInt,
    maxSteps: PositiveInt,
    /** Prompts per optimizer step (each gets numGenerations completions). */
    promptsPerStep: PositiveInt,
    numGenerations: refine(t.number, (n) => Number.isInteger(n) && n >= 2, "an integer >= 2"),
    /** Micro-batches per optimizer step; promptsPerStep must divide evenly. */
    gradientAccumulationSteps: PositiveInt,
    temperature: PositiveNumber,
    topP: Probability,
    topK: t.union([PositiveInt, t.null]),
    maxPromptLength: PositiveInt,
    maxCompletionLength: PositiveInt,
    lossType: oneOf(LOSS_TYPES),
    beta: NonNegative,
    // The ratio is clipped at 1 - epsilonLow, which must stay positive.
    epsilonLow: refine(
      t.number,
      (n) => n >= 0 && n < LOSS_BOUNDS.epsilonLowBelow,
      `a number in [0, ${LOSS_BOUNDS.epsilonLowBelow})`,
    ),
    epsilonHigh: NonNegative,
    // delta caps ratios above 1 (two-sided clipping); at or below 1 it would cap every ratio.
    delta: t.union([
      refine(
        t.number,
        (n) => Number.isFinite(n) && n > LOSS_BOUNDS.deltaAbove,
        `a number > ${LOSS_BOUNDS.deltaAbove}`,
      ),
      t.null,
    ]),
    scaleRewards: oneOf(SCALE_REWARDS),
    numIterations: PositiveInt,
    maskTruncatedCompletions: t.boolean,
    /** TRL >= 0.16 divides logits by the sampling temperature before taking log-probs; 0.15.2 did not. */
    temperatureInLogprobs: t.boolean,
    /**
     * Off-policy correction for rollouts from an inference engine (TRL's
     * vllm_importance_sampling_*, lib/rl/importance.ts): "off" or the mode. Never applied to
     * in-process rollouts, whose log-probs are the learner's own.
     */
    importanceSampling: t.keyof({
      off: null,
      token_truncate: null,
      token_mask: null,
      sequence_truncate: null,
      sequence_mask: null,
    }),
    importanceSamplingClipMin: t.union([NonNegative, t.null]),
    importanceSamplingClipMax: PositiveNumber,
    learningRate: PositiveNumber,
    adamBeta1: AdamBeta,
    adamBeta2: AdamBeta,
    adamEpsilon: PositiveNumber,
    weightDecay: NonNegative,
    maxGradNorm: t.union([PositiveNumber, t.null]),
    lrScheduler: t.keyof({ constant: null, linear: null, cosine: null, cosine_with_min_lr: null }),
    warmupRatio: Fraction,
    minLrRatio: Fraction,
    /** The schedule's horizon; Tina decays over more steps than it runs. Default: maxSteps. */
    scheduleSteps: t.union([PositiveInt, t.null]),
    /** null trains every base parameter instead (for comparison). */
    lora: nullOr(LoraCodec),
    rewards: t.readonlyArray(RewardSpecCodec),
    checkpointEvery: NonNegativeInt,
    /** Stop after this many consecutive steps with a non-finite loss or gradient. */
    maxBadSteps: PositiveInt,
    gradientCheckpointing: t.boolean,
    /** For the cost ledger: what an hour of this machine costs, in dollars. */
    costPerHour: NonNegative,
  });

/** Tina (arXiv 2504.15777) as run on TRL 0.15.2 with PEFT and open-r1 rewards. */
export const TINA_PRESET: TrainConfig = Object.freeze({
  preset: "tina",
  seed: 42,
  maxSteps: 850,
  promptsPerStep: 8,
  numGenerations: 4,
  gradientAccumulationSteps: 4,
  temperature: 0.7,
  topP: 1,
  topK: null,
  maxPromptLength: 512,
  maxCompletionLength: 3584,
  lossType: "grpo",
  beta: 0.04,
  epsilonLow: 0.2,
  epsilonHigh: 0.2,
  delta: null,
  scaleRewards: "group",
  numIterations: 1,
  maskTruncatedCompletions: false,
  temperatureInLogprobs: false,
  importanceSampling: "sequence_mask",
  importanceSamplingClipMin: null,
  importanceSamplingClipMax: 3,
  learningRate: 1e-6,
  adamBeta1: 0.9,
  adamBeta2: 0.999,
  adamEpsilon: 1e-8,
  weightDecay: 0,
  maxGradNorm: 1,
  lrScheduler: "cosine_with_min_lr",
  warmupRatio: 0.1,
  minLrRatio: 0.1,
  scheduleSteps: 1500,
  lora: { r: 32, alpha: 128, dropout: 0.05, targets: [...PROJS], rslora: false },
  rewards: [{ name: "accuracy", weight: 2 }, { name: "format", weight: 1 }],
  checkpointEvery: 50,
  maxBadSteps: 3,
  // Off: the shipped tiny model needs no saving; real sizes turn it on (the planner says when).
  gradientCheckpointing: false,
  costPerHour: 1,
});

/** TRL 1.x GRPOConfig defaults (with Tina's LoRA, since TRL itself trains full weights). */
export const TRL_PRESET: TrainConfig = Object.freeze({
  ...TINA_PRESET,
  preset: "trl",
  numGenerations: 8,
  gradientAccumulationSteps: 1,
  temperature: 1,
  maxCompletionLength: 256,
  lossType: "dapo",
  beta: 0,
  maskTruncatedCompletions: false,
  temperatureInLogprobs: true,
  lrScheduler: "linear",
  warmupRatio: 0,
  scheduleSteps: null,
});

/** The presets by name. */
export const PRESETS = { tina: TINA_PRESET, trl: TRL_PRESET } as const;

const crossFieldProblems = (c: TrainConfig): readonly string[] => [
  ...(c.promptsPerStep % c.gradientAccumulationSteps !== 0
    ? [
      `field "gradientAccumulationSteps": ${c.gradientAccumulationSteps} must divide promptsPerStep (${c.promptsPerStep})`,
    ]
    : []),
  ...(c.rewards.length === 0 ? [`field "rewards": at least one reward function is needed`] : []),
  ...(c.lora && c.lora.targets.length === 0
    ? [`field "lora.targets": at least one projection is needed`]
    : []),
];

/**
 * Reward names (known, not repeated) and options, checked on the merged values even when other
 * fields fail to decode, so that every problem is reported at once.
 */
const rewardProblems = (rewards: unknown): readonly string[] =>
  !Array.isArray(rewards) ? [] : rewards.flatMap((r, i) => {
    if (!isRecord(r) || typeof r.name !== "string") return [];
    const name = r.name;
    return [
      ...(rewardNames.includes(name) ? [] : [
        `field "rewards.${i}.name": unknown reward "${name}"${
          didYouMean(name, rewardNames)
        }; known: ${rewardNames.join(", ")}`,
      ]),
      ...(rewards.findIndex((other) => isRecord(other) && other.name === name) < i
        ? [`field "rewards.${i}.name": reward "${name}" is listed twice`]
        : []),
      ...(rewardNames.includes(name) && (r.options === undefined || isRecord(r.options))
        ? optionProblem({ name, options: r.options as Record<string, number> | undefined }, i)
        : []),
    ];
  });

const optionProblem = (
  r: { readonly name: string; readonly options?: Readonly<Record<string, number>> },
  i: number,
): readonly string[] => {
  try {
    makeReward(r.name, r.options);
    return [];
  } catch (e) {
    return [`field "rewards.${i}.options": ${(e as Error).message}`];
  }
};

/** Edit distance (insertions, deletions, substitutions), for "did you mean". */
const editDistance = (a: string, b: string): number => {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
};

const squash = (name: string): string => name.toLowerCase().replace(/[_-]/g, "");

/**
 * The known name closest to `name` within `maxDistance` edits (case, _ and - ignored), or null.
 * With `prefixes`, a name that starts the other counts as one edit ("rank" for "r").
 */
export const closestName = (
  name: string,
  known: readonly string[],
  maxDistance: number = Math.max(2, Math.floor(name.length / 3)),
  prefixes = true,
): string | null => {
  const scored = known.map((k) => ({
    k,
    d: squash(k) === squash(name)
      ? 0
      : prefixes && (squash(name).startsWith(squash(k)) || squash(k).startsWith(squash(name)))
      ? 1
      : editDistance(name.toLowerCase(), k.toLowerCase()),
  })).sort((a, b) => a.d - b.d);
  return scored.length > 0 && scored[0].d <= maxDistance ? scored[0].k : null;
};

/** ` (did you mean "x"?)` for the closest known name, or "" when none is close. */
export const didYouMean = (name: string, known: readonly string[]): string => {
  const best = closestName(name, known);
  return best === null ? "" : ` (did you mean "${best}"?)`;
};

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

const unknownKeys = (
  value: Record<string, unknown>,
  known: readonly string[],
  path: string,
): readonly string[] =>
  Object.keys(value).filter((k) => !known.includes(k)).map((k) =>
    `unknown field "${path}${k}"${didYouMean(k, known)}; known: ${known.join(", ")}`
  );

const LORA_FIELDS = Object.keys(LoraCodec.props);
const REWARD_FIELDS = ["name", "weight", "options"];

/** Every structural problem of one layer: not an object, unknown fields at any depth. */
const layerProblems = (values: unknown): readonly string[] => {
  if (!isRecord(values)) {
    return [`expected an object of config fields, got ${JSON.stringify(values) ?? String(values)}`];
  }
  const lora = values.lora;
  const rewards = values.rewards;
  return [
    ...unknownKeys(values, Object.keys(TrainConfigCodec.props), ""),
    ...(isRecord(lora) ? unknownKeys(lora, LORA_FIELDS, "lora.") : []),
    ...(Array.isArray(rewards)
      ? rewards.flatMap((r, i) => isRecord(r) ? unknownKeys(r, REWARD_FIELDS, `rewards.${i}.`) : [])
      : []),
  ];
};

/** One source of overrides: a config file's contents or the command line's flags. */
export interface ConfigLayer {
  /** Where the values came from (a file path, "command line"), for error messages. */
  readonly source: string;
  /** The overrides, as parsed (checked when resolved). */
  readonly values: unknown;
}

/** Rewards given without a weight weigh 1, as TRL's reward_weights. */
const withWeights = (rewards: unknown): unknown =>
  Array.isArray(rewards)
    ? rewards.map((r) => isRecord(r) && r.weight === undefined ? { ...r, weight: 1 } : r)
    : rewards;

/**
 * Layers applied in order over `base`; later layers win, field by field, and `lora` merges
 * per field. The alpha rule, for flags and files alike: a layer that sets lora.r without
 * lora.alpha sets alpha = 4r (Tina's ratio); otherwise alpha is the last one given.
 */
const mergeLayers = (base: TrainConfig, layers: readonly ConfigLayer[]): Record<string, unknown> =>
  layers.reduce<Record<string, unknown>>((merged, { values }) => {
    const v = values as Record<string, unknown>;
    const lora = v.lora;
    const previous = merged.lora as Record<string, unknown> | null;
    const nextLora = lora === undefined ? previous : lora === null || !isRecord(lora) ? lora : {
      ...(previous ?? base.lora ?? TINA_PRESET.lora),
      ...lora,
      ...(lora.r !== undefined && lora.alpha === undefined
        ? { alpha: 4 * (lora.r as number) }
        : {}),
    };
    return {
      ...merged,
      ...v,
      lora: nextLora,
      ...(v.rewards === undefined ? {} : { rewards: withWeights(v.rewards) }),
    };
  }, { ...base });

/**
 * The config that `layers` make over the preset their first `preset` field names (default
 * tina), with EVERY problem found at once, each naming its source and field path.
 */
export const resolveLayers = (
  layers: readonly ConfigLayer[],
): Either<readonly string[], TrainConfig> => {
  const structural = layers.flatMap(({ source, values }) =>
    layerProblems(values).map((p) => `${source}: ${p}`)
  );
  const mappings = layers.filter((l) => isRecord(l.values));
  const presetLayer = mappings.findLast((l) => (l.values as Record<string, unknown>).preset);
  const presetName = presetLayer ? (presetLayer.values as Record<string, unknown>).preset : "tina";
  const preset = PRESETS[presetName as keyof typeof PRESETS];
  const presetProblem = preset ? [] : [
    `${presetLayer!.source}: field "preset": expected "tina" or "trl", got ${
      JSON.stringify(presetName)
    }`,
  ];
  const source = layers.map((l) => l.source).join(" + ") || "preset";
  // A problem with a field is reported against the layer that last set it.
  const sourceOf = (field: string | undefined) =>
    mappings.findLast((l) => field && (l.values as Record<string, unknown>)[field] !== undefined)
      ?.source ?? source;
  const attribute = (line: string) => `${sourceOf(/^field "([^".]+)/.exec(line)?.[1])}: ${line}`;
  const merged = mergeLayers(preset ?? TINA_PRESET, mappings);
  const decoded = decodeWith(
    TrainConfigCodec,
    { ...merged, preset: preset ? presetName : "tina" },
    "",
  );
  const problems = [
    ...structural,
    ...presetProblem,
    ...(isLeft(decoded)
      ? decoded.left.split("\n").map((l) => l.replace(/^: /, ""))
      : crossFieldProblems(decoded.right)).map(attribute),
    ...rewardProblems(merged.rewards).map(attribute),
  ];
  return problems.length > 0 || isLeft(decoded)
    ? left(problems)
    : right(Object.freeze(decoded.right));
};

/**
 * A preset with overrides applied and the whole checked. `source` names where the overrides
 * came from (a file path, "command line") for error messages; all problems, one per line.
 */
export const resolveConfig = (
  overrides: Record<string, unknown>,
  source: string,
): Either<string, TrainConfig> => {
  const resolved = resolveLayers([{ source, values: overrides }]);
  return isLeft(resolved) ? left(resolved.left.join("\n")) : resolved;
};
