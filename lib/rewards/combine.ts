/**
 * Reward functions by name, and their weighted combination over a batch. A null reward
 * ("not scorable") counts as 0 in the weighted sum, like TRL's nansum.
 */
import { accuracyRewards } from "./accuracy.ts";
import {
  formatReward,
  reasoningStepsReward,
  tagCountReward,
  tinaFormatReward,
  tinaTagCountReward,
} from "./format.ts";
import {
  cosineScaledRewards,
  defaultCosineOptions,
  defaultSoftOverlongOptions,
  kimiLengthRewards,
  softOverlongRewards,
} from "./length.ts";
import { defaultRepetitionOptions, repetitionPenalty } from "./repetition.ts";
import { type BatchExtra, type BatchRewardFn, type Example, liftReward } from "./types.ts";

export type RewardOptions = Readonly<Record<string, number>>;

interface RegistryEntry {
  /** Option names with their defaults; an entry without options takes none. */
  readonly defaults: RewardOptions;
  readonly make: (options: RewardOptions) => BatchRewardFn;
}

const textOnly = (name: string, fn: (completion: string) => number): RegistryEntry => ({
  defaults: {},
  make: () => liftReward(name, (completion) => fn(completion)),
});

const registry: Readonly<Record<string, RegistryEntry>> = {
  accuracy: { defaults: {}, make: () => accuracyRewards },
  format: textOnly("format", formatReward),
  tina_format: textOnly("tina_format", tinaFormatReward),
  tag_count: textOnly("tag_count", tagCountReward),
  tina_tag_count: textOnly("tina_tag_count", tinaTagCountReward),
  reasoning_steps: textOnly("reasoning_steps", reasoningStepsReward),
  length: { defaults: {}, make: () => kimiLengthRewards },
  cosine: { defaults: { ...defaultCosineOptions }, make: (o) => cosineScaledRewards(o) },
  repetition: {
    defaults: { ...defaultRepetitionOptions },
    make: (o) => {
      const penalty = repetitionPenalty(o);
      return liftReward("repetition", (completion) => penalty(completion));
    },
  },
  soft_overlong: {
    defaults: { ...defaultSoftOverlongOptions },
    make: (o) => softOverlongRewards(o),
  },
};

/** Every registered reward name. */
export const rewardNames: readonly string[] = Object.keys(registry);

/** The batch reward function registered under `name`, with `options` over its defaults. */
export const makeReward = (name: string, options: RewardOptions = {}): BatchRewardFn => {
  const entry = Object.hasOwn(registry, name) ? registry[name] : undefined;
  if (entry === undefined) {
    throw new Error(`unknown reward "${name}"; valid names: ${rewardNames.join(", ")}`);
  }
  const unknown = Object.keys(options).filter((k) => !Object.hasOwn(entry.defaults, k));
  if (unknown.length > 0) {
    const valid = Object.keys(entry.defaults);
    throw new Error(
      `reward "${name}": unknown option(s) ${unknown.join(", ")}; ` +
        (valid.length > 0 ? `valid options: ${valid.join(", ")}` : "it takes no options"),
    );
  }
  return entry.make({ ...entry.defaults, ...options });
};

export interface RewardSpec {
  readonly name: string;
  /** Defaults to 1, as TRL's reward_weights. */
  readonly weight?: number;
  readonly options?: RewardOptions;
}

export interface CombinedRewards {
  /** Weighted sum per completion, nulls counted as 0. */
  readonly total: number[];
  /** Each function's raw rewards, by name. */
  readonly perFunction: Record<string, (number | null)[]>;
}

export type CombinedRewardFn = (
  completions: readonly string[],
  examples: readonly Example[],
  extra?: BatchExtra,
) => CombinedRewards;

/** One function scoring a batch with every spec'd reward and their weighted sum. */
export const combineRewards = (specs: readonly RewardSpec[]): CombinedRewardFn => {
  const seen = new Set<string>();
  const parts = specs.map((spec) => {
    if (seen.has(spec.name)) throw new Error(`reward "${spec.name}" is listed twice`);
    seen.add(spec.name);
    const weight = spec.weight ?? 1;
    if (!Number.isFinite(weight)) {
      throw new Error(`reward "${spec.name}": weight must be a finite number, got ${weight}`);
    }
    return { name: spec.name, weight, fn: makeReward(spec.name, spec.options) };
  });
  return (completions, examples, extra) => {
    const perFunction: Record<string, (number | null)[]> = {};
    const total = completions.map(() => 0);
    for (const { name, weight, fn } of parts) {
      const rewards = fn(completions, examples, extra);
      perFunction[name] = rewards;
      rewards.forEach((r, i) => {
        if (r !== null && !Number.isNaN(r)) total[i] += weight * r;
      });
    }
    return { total, perFunction };
  };
};
