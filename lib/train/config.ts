/**
 * The training configuration: one immutable value, built from a preset plus overrides and
 * checked by an io-ts codec, so a bad config file or flag names the field at fault.
 *
 * Presets: `tina` reproduces the paper's TRL 0.15.2 semantics (RECIPE.md); `trl` follows
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
import { PROJS } from "../io/weight_layout.ts";

const NonNegative = refine(t.number, (n) => Number.isFinite(n) && n >= 0, "a non-negative number");
const Fraction = refine(t.number, (n) => n >= 0 && n <= 1, "a number in [0, 1]");
const Probability = refine(t.number, (n) => n > 0 && n <= 1, "a number in (0, 1]");
const ProjCodec = t.keyof(
  Object.fromEntries(PROJS.map((p) => [p, null])) as Record<(typeof PROJS)[number], null>,
);

const LoraCodec = t.type({
  r: PositiveInt,
  alpha: PositiveNumber,
  dropout: refine(t.number, (n) => n >= 0 && n < 1, "a number in [0, 1)"),
  targets: t.array(ProjCodec),
  rslora: t.boolean,
});

const RewardSpecCodec = t.type({ name: t.string, weight: t.number });

export const TrainConfigCodec = t.type({
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
  lossType: t.keyof({ grpo: null, bnpo: null, dr_grpo: null, dapo: null }),
  beta: NonNegative,
  epsilonLow: NonNegative,
  epsilonHigh: NonNegative,
  delta: t.union([PositiveNumber, t.null]),
  scaleRewards: t.keyof({ group: null, batch: null, none: null }),
  numIterations: PositiveInt,
  maskTruncatedCompletions: t.boolean,
  /** TRL >= 0.16 divides logits by the sampling temperature before taking log-probs; 0.15.2 did not. */
  temperatureInLogprobs: t.boolean,
  learningRate: PositiveNumber,
  adamBeta1: Fraction,
  adamBeta2: Fraction,
  adamEpsilon: PositiveNumber,
  weightDecay: NonNegative,
  maxGradNorm: t.union([PositiveNumber, t.null]),
  lrScheduler: t.keyof({ constant: null, linear: null, cosine: null, cosine_with_min_lr: null }),
  warmupRatio: Fraction,
  minLrRatio: Fraction,
  /** The schedule's horizon; Tina decays over more steps than it runs. Default: maxSteps. */
  scheduleSteps: t.union([PositiveInt, t.null]),
  /** null trains every base parameter instead (for comparison). */
  lora: t.union([LoraCodec, t.null]),
  rewards: t.array(RewardSpecCodec),
  checkpointEvery: NonNegativeInt,
  /** Stop after this many consecutive steps with a non-finite loss or gradient. */
  maxBadSteps: PositiveInt,
  /** For the cost ledger: what an hour of this machine costs, in dollars. */
  costPerHour: NonNegative,
});

export type TrainConfig = t.TypeOf<typeof TrainConfigCodec>;
export type LoraSettings = NonNullable<TrainConfig["lora"]>;

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

export const PRESETS = { tina: TINA_PRESET, trl: TRL_PRESET } as const;

const crossFieldProblem = (c: TrainConfig): string | null => {
  if (c.promptsPerStep % c.gradientAccumulationSteps !== 0) {
    return `field "gradientAccumulationSteps": ${c.gradientAccumulationSteps} must divide promptsPerStep (${c.promptsPerStep})`;
  }
  if (c.rewards.length === 0) return `field "rewards": at least one reward function is needed`;
  if (c.lora && c.lora.targets.length === 0) {
    return `field "lora.targets": at least one projection is needed`;
  }
  return null;
};

/**
 * A preset with overrides applied and the whole checked. `source` names where the overrides
 * came from (a file path, "command line") for error messages.
 */
export const resolveConfig = (
  overrides: Record<string, unknown>,
  source: string,
): Either<string, TrainConfig> => {
  const known = Object.keys(TrainConfigCodec.props);
  const unknown = Object.keys(overrides).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    return left(`${source}: unknown field "${unknown[0]}"; known fields: ${known.join(", ")}`);
  }
  const presetName = (overrides.preset ?? "tina") as string;
  const preset = PRESETS[presetName as keyof typeof PRESETS];
  if (!preset) return decodeWith(TrainConfigCodec, { ...TINA_PRESET, preset: presetName }, source);
  const lora = overrides.lora === null
    ? null
    : { ...preset.lora, ...(overrides.lora as object | undefined) };
  const decoded = decodeWith(TrainConfigCodec, { ...preset, ...overrides, lora }, source);
  if (isLeft(decoded)) return decoded;
  const problem = crossFieldProblem(decoded.right);
  return problem ? left(`${source}: ${problem}`) : right(Object.freeze(decoded.right));
};
