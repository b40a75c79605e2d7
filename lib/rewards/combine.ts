/**
 * Rewards as values: a built-in by name (what config files say), or a function of your own,
 * and their weighted combination over a batch. A null reward ("not scorable") counts as 0 in
 * the weighted sum, like TRL's nansum. Each reward's raw values are kept under its name, which
 * the trainer logs as `rewards/<name>/mean`.
 * @module
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
import type { ChatMessage } from "../tokenizer/hf.ts";
import {
  type BatchExtra,
  type BatchRewardFn,
  type Example,
  liftReward,
  type RewardFn,
} from "./types.ts";

/** A built-in reward's numeric options by name (e.g. `{ ngramSize: 3 }` for repetition). */
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

/** A built-in reward by name, as config files list them. */
export interface BuiltinReward {
  /** One of {@link rewardNames}. */
  readonly name: string;
  /** Defaults to 1, as TRL's reward_weights. */
  readonly weight?: number;
  /** Options over the reward's defaults (see {@link makeReward}). */
  readonly options?: RewardOptions;
}

/** A reward function of your own, scoring one completion at a time. */
export interface CustomReward<Columns extends object = object> {
  /** The name its metrics are logged under (`rewards/<name>/mean`); not a built-in's name. */
  readonly name: string;
  /** Defaults to 1. */
  readonly weight?: number;
  /** Completion and its example (every column typed) in, a number or null out. */
  readonly reward: RewardFn<Columns>;
}

/** A reward function of your own, scoring a whole batch at once (e.g. {@link trlReward}). */
export interface CustomBatchReward<Columns extends object = object> {
  /** The name its metrics are logged under (`rewards/<name>/mean`); not a built-in's name. */
  readonly name: string;
  /** Defaults to 1. */
  readonly weight?: number;
  /** One value (or null) per completion, in batch order. */
  readonly batch: BatchRewardFn<Columns>;
}

/**
 * A reward as a value: a built-in's name (`"accuracy"`), a named function (logged under the
 * function's own name, as TRL does), or an object giving a name, a weight, options.
 *
 * @example
 * ```ts
 * const mentionsUnits = (completion: string) => (/\bunits?\b/.test(completion) ? 1 : 0);
 * const score = combineRewards(["accuracy", mentionsUnits, { name: "format", weight: 0.5 }]);
 * ```
 */
export type RewardSpec<Columns extends object = object> =
  | string
  | RewardFn<Columns>
  | BuiltinReward
  | CustomReward<Columns>
  | CustomBatchReward<Columns>;

/** The weighted sum and each reward's own values, for one batch of completions. */
export interface CombinedRewards {
  /** Weighted sum per completion, nulls counted as 0. */
  readonly total: number[];
  /** Each function's raw rewards, by name. */
  readonly perFunction: Record<string, (number | null)[]>;
}

/** Every reward of a {@link combineRewards} call over one batch. */
export type CombinedRewardFn<Columns extends object = object> = (
  completions: readonly string[],
  examples: readonly Example<Columns>[],
  extra?: BatchExtra,
) => CombinedRewards;

interface WeightedReward<Columns extends object> {
  readonly name: string;
  readonly weight: number;
  readonly fn: BatchRewardFn<Columns>;
}

const describe = (spec: unknown): string =>
  typeof spec === "function" ? `function ${spec.name || "(anonymous)"}` : JSON.stringify(spec);

const customName = (name: unknown, spec: unknown): string => {
  if (typeof name !== "string" || name.trim() === "") {
    throw new Error(
      `reward ${describe(spec)}: a custom reward needs a name ` +
        `(a named function, or { name: "...", reward: fn }; minifiers and Bun's transpiler ` +
        `may drop a function's inferred name)`,
    );
  }
  if (Object.hasOwn(registry, name)) {
    throw new Error(`reward "${name}": the name of a built-in reward; give yours another name`);
  }
  return name;
};

const checkedWeight = (name: string, weight: unknown): number => {
  if (weight === undefined) return 1;
  if (typeof weight !== "number" || !Number.isFinite(weight)) {
    throw new Error(`reward "${name}": weight must be a finite number, got ${String(weight)}`);
  }
  return weight;
};

/** One spec as a named, weighted batch function; throws on anything it cannot be. */
const resolveSpec = <Columns extends object>(
  spec: RewardSpec<Columns>,
): WeightedReward<Columns> => {
  if (typeof spec === "string") return { name: spec, weight: 1, fn: makeReward(spec) };
  if (typeof spec === "function") {
    const name = customName(spec.name, spec);
    return { name, weight: 1, fn: liftReward(name, spec) };
  }
  if (typeof spec !== "object" || spec === null) {
    throw new Error(`reward ${describe(spec)}: expected a name, a function or an object`);
  }
  if ("reward" in spec && "batch" in spec) {
    throw new Error(`reward "${spec.name}": give either reward or batch, not both`);
  }
  if ("reward" in spec || "batch" in spec) {
    const name = customName(spec.name, spec);
    const weight = checkedWeight(name, spec.weight);
    const fn = "reward" in spec ? spec.reward : spec.batch;
    if (typeof fn !== "function") {
      throw new Error(
        `reward "${name}": ${"reward" in spec ? "reward" : "batch"} is not a function`,
      );
    }
    return { name, weight, fn: "reward" in spec ? liftReward(name, spec.reward) : spec.batch };
  }
  const weight = checkedWeight(spec.name, spec.weight);
  return { name: spec.name, weight, fn: makeReward(spec.name, spec.options) };
};

/**
 * One function scoring a batch with every reward and their weighted sum. Names must be
 * unique; a custom reward may not take a built-in's name.
 */
export const combineRewards = <Columns extends object = object>(
  specs: readonly RewardSpec<Columns>[],
): CombinedRewardFn<Columns> => {
  if (!Array.isArray(specs)) {
    throw new Error(`rewards: expected an array of rewards, got ${describe(specs)}`);
  }
  const parts = specs.map(resolveSpec);
  parts.forEach(({ name }, i) => {
    if (parts.findIndex((p) => p.name === name) < i) {
      throw new Error(`reward "${name}" is listed twice`);
    }
  });
  return (completions, examples, extra) => {
    const perFunction: Record<string, (number | null)[]> = {};
    const total = completions.map(() => 0);
    for (const { name, weight, fn } of parts) {
      const rewards = fn(completions, examples, extra);
      if (!Array.isArray(rewards) || rewards.length !== completions.length) {
        throw new Error(
          `reward "${name}": returned ${
            Array.isArray(rewards) ? `${rewards.length} values` : describe(rewards)
          } for ${completions.length} completions`,
        );
      }
      rewards.forEach((r, i) => {
        if (r !== null && (typeof r !== "number" || Math.abs(r) === Infinity)) {
          throw new Error(
            `reward "${name}": completion ${i} got ${describe(r)}, not a finite number or null`,
          );
        }
      });
      perFunction[name] = rewards;
      rewards.forEach((r, i) => {
        if (r !== null && !Number.isNaN(r)) total[i] += weight * r;
      });
    }
    return { total, perFunction };
  };
};

/**
 * What a TRL reward function receives, in TypeScript: the prompts and completions, plus every
 * dataset column as one array over the batch (TRL's `**kwargs`).
 */
export type TrlRewardArgs<Columns extends object = object> =
  & {
    /** One chat prompt per completion (empty when the caller passed none). */
    readonly prompts: readonly (readonly ChatMessage[])[];
    readonly completions: readonly string[];
    /** Completion lengths in tokens, when known. */
    readonly completionTokenLengths?: readonly number[];
  }
  & { readonly [K in keyof Example<Columns>]-?: readonly Example<Columns>[K][] };

/**
 * A reward written against TRL's signature, `(prompts, completions, **columns) -> list`, as a
 * batch reward named `name`.
 *
 * @example
 * ```ts
 * const lengthPenalty = trlReward("short", ({ completions }) => completions.map((c) => -c.length / 100));
 * ```
 */
export const trlReward = <Columns extends object = object>(
  name: string,
  fn: (args: TrlRewardArgs<Columns>) => readonly (number | null)[],
): CustomBatchReward<Columns> => ({
  name,
  batch: (completions, examples, extra) => {
    const keys = [...new Set(examples.flatMap((e) => Object.keys(e)))];
    const columns = Object.fromEntries(
      keys.map((k) => [k, examples.map((e) => (e as Record<string, unknown>)[k])]),
    );
    return [
      ...fn({
        ...columns,
        prompts: extra?.prompts ?? [],
        completions,
        completionTokenLengths: extra?.completionTokenLengths,
      } as TrlRewardArgs<Columns>),
    ];
  },
});
