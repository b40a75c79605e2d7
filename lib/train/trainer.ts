/**
 * The one-call trainer: a model, a tokenizer, data, rewards and a config in; the trained adapter,
 * the final state and every step's metrics out. Effects (clock, progress, cancellation,
 * checkpoints) come in as functions; nothing here touches files or the console.
 *
 * @example
 * ```ts
 * const model = await loadModel(tinyModelDir(), { backend: "tfjs-wasm" });
 * const tokenizer = await loadTokenizer(tinyModelDir());
 * const { train: data } = arithmeticSplits(0, { train: 1000, heldOut: 0 });
 * const shortAnswer = (completion: string) => (completion.length < 40 ? 1 : 0);
 * const result = await train({
 *   model, tokenizer, data, prompt: taskPrompt,
 *   rewards: ["accuracy", shortAnswer],
 *   config: { preset: "tina", maxSteps: 2, promptsPerStep: 2, numGenerations: 4 },
 *   onStep: (row) => console.log(row.step, row["rewards/shortAnswer/mean"]),
 * });
 * await writeAdapter("out/adapter", result.adapter!);
 * ```
 * @module
 */
import { isLeft } from "fp-ts/lib/Either.js";
import { paperPrompt } from "../eval/evaluate.ts";
import type { PeftAdapter } from "../io/peft.ts";
import { adapterToHost } from "../model/adapter.ts";
import { checkModel } from "../model/guards.ts";
import type { Model } from "../model/load.ts";
import { disposeReplaced } from "../optim/mod.ts";
import { combineRewards, type Example, type RewardSpec } from "../rewards/mod.ts";
import type { ChatMessage, Tokenizer } from "../tokenizer/mod.ts";
import { resolveLayers, type TrainConfig } from "./config.ts";
import { type LoopHooks, TrainingDiverged, trainLoop } from "./loop.ts";
import type { MetricsRow } from "./metrics.ts";
import type { Rollout } from "./rollout.ts";
import { initialState, peftConfigOf, trainContext } from "./setup.ts";
import type { TrainContext, TrainState } from "./step.ts";

/** What a trainer is built from. `Columns` types the dataset's extra columns for rewards. */
export interface TrainerOptions<Columns extends object = object> {
  /** A loaded model (`loadModel`): its config, base weights and backend. */
  readonly model: Model;
  /** The model's tokenizer (`loadTokenizer`): its chat template poses the prompts. */
  readonly tokenizer: Tokenizer;
  /** The training problems; each needs a `problem` string, rewards may read any column. */
  readonly data: readonly Example<Columns>[];
  /**
   * A full config, or overrides over a preset (`{ preset: "tina", maxSteps: 100 }`); checked
   * as config files are. Default: the tina preset.
   */
  readonly config?: TrainConfig | Readonly<Record<string, unknown>>;
  /** Rewards as values (names of built-ins, your functions); default: the config's rewards. */
  readonly rewards?: readonly RewardSpec<Columns>[];
  /**
   * The chat messages that pose an example (`taskPrompt` for the built-in task); default: the
   * paper's prompt (`paperPrompt`).
   */
  readonly prompt?: (
    example: Example<Columns> & { readonly problem: string },
  ) => readonly ChatMessage[];
  /** Where completions come from; default: sampling in this process. */
  readonly rollout?: Rollout;
  /** The clock in milliseconds (for throughput metrics); default `performance.now`. */
  readonly now?: () => number;
}

/** A trainer to drive by hand (notebooks): one GRPO step per `step()` call. */
export interface Trainer {
  /** The resolved, checked config. */
  readonly config: TrainConfig;
  /** What every step reads (model, optimizer, rewards, rollout). */
  readonly context: TrainContext;
  /** The state after the last step (step 0: fresh adapters). */
  readonly state: TrainState;
  /** Every metrics row so far, one per optimizer update. */
  readonly metrics: readonly MetricsRow[];
  /** Runs one GRPO step (μ optimizer updates) and returns its metrics rows. */
  step(): Promise<readonly MetricsRow[]>;
  /** The current LoRA adapter on the host, ready for `writeAdapter`; null when training fully. */
  adapter(): Promise<PeftAdapter | null>;
}

/** Options of {@link train}: a trainer's, plus the hooks of a whole run. */
export interface TrainOptions<Columns extends object = object> extends TrainerOptions<Columns> {
  /** After every optimizer update, with its metrics row (log it, draw progress). */
  readonly onStep?: (row: MetricsRow, state: TrainState) => void | Promise<void>;
  /** Stops the run after the step in progress; the result then says "aborted". */
  readonly signal?: AbortSignal;
  /** Called every `checkpointEvery` updates and at the end (e.g. `saveCheckpoint`). */
  readonly checkpoint?: (state: TrainState) => Promise<void>;
  /**
   * The state to start from, given the fresh one (e.g. a checkpoint loaded into its shapes with
   * `loadCheckpoint`, to resume); default: the fresh state.
   */
  readonly start?: (fresh: TrainState) => TrainState | Promise<TrainState>;
}

/** How a run ended. */
export type TrainStop = "completed" | "aborted" | "diverged";

/** What {@link train} returns. */
export interface TrainResult {
  /** The trained LoRA adapter on the host (write it with `writeAdapter`); null for full training. */
  readonly adapter: PeftAdapter | null;
  /** The final state: trainable weights, optimizer state, step, key, cost ledger. */
  readonly state: TrainState;
  /** One row per optimizer update, TRL's metric names (`reward`, `rewards/<name>/mean`, `kl`, ...). */
  readonly metrics: readonly MetricsRow[];
  /** The resolved config the run used (save it beside the adapter). */
  readonly config: TrainConfig;
  /** Whether the run did all `maxSteps` updates, was aborted, or diverged. */
  readonly stopped: TrainStop;
  /** Why a diverged run stopped. */
  readonly failure: string | null;
}

const fail = (message: string): never => {
  throw new TypeError(`train: ${message}`);
};

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null;

/** Runtime checks, so a wrong object fails here with a clear message even without types. */
const checkOptions = (opts: TrainerOptions<object>): void => {
  if (!isObject(opts)) fail("expected an options object { model, tokenizer, data, ... }");
  const { model, tokenizer, data } = opts;
  checkModel("train", model);
  if (!isObject(model.backend) || typeof model.backend.name !== "string") {
    fail("model.backend is missing: load the model with loadModel(dir, { backend })");
  }
  if (
    !isObject(tokenizer) || typeof tokenizer.encode !== "function" ||
    typeof tokenizer.decode !== "function"
  ) {
    fail("tokenizer must be a loaded tokenizer (await loadTokenizer(dir))");
  }
  if (!Array.isArray(data) || data.length === 0) {
    fail("data must be a non-empty array of examples ({ problem, answer, ... })");
  }
  const bad = data.findIndex((ex) => !isObject(ex) || typeof ex.problem !== "string");
  if (bad >= 0) fail(`data[${bad}] has no "problem" string: ${JSON.stringify(data[bad])}`);
  for (const name of ["prompt", "now"] as const) {
    if (opts[name] !== undefined && typeof opts[name] !== "function") {
      fail(`${name} must be a function`);
    }
  }
};

/** The config the options name: overrides over a preset, checked; every problem in one error. */
export const trainerConfig = (
  config: TrainConfig | Readonly<Record<string, unknown>> = {},
): TrainConfig => {
  const resolved = resolveLayers([{ source: "train() config", values: config }]);
  if (isLeft(resolved)) throw new Error(resolved.left.join("\n"));
  return resolved.right;
};

/** The context, first state and data a run starts from, checked. */
const setUp = <Columns extends object>(opts: TrainerOptions<Columns>) => {
  checkOptions(opts as TrainerOptions<object>);
  const config = trainerConfig(opts.config);
  const prompt = opts.prompt ?? paperPrompt;
  const context = trainContext({
    config,
    model: opts.model,
    tokenizer: opts.tokenizer,
    promptOf: prompt as (example: Example) => readonly ChatMessage[],
    now: opts.now ?? (() => performance.now()),
    // Rewards and data share `Columns`, so the combined function sees the rows it was typed for.
    rewards: opts.rewards && combineRewards(opts.rewards) as ReturnType<typeof combineRewards>,
    rollout: opts.rollout,
  });
  return { config, context, data: opts.data as readonly Example[] };
};

/** The host adapter of a state, named after the model it adapts. */
const hostAdapter = (
  config: TrainConfig,
  model: Model,
  state: TrainState,
): Promise<PeftAdapter | null> =>
  state.trainable.kind === "lora"
    ? adapterToHost(peftConfigOf(config, model.dir)!, state.trainable.weights)
    : Promise.resolve(null);

/** The loop up to `untilStep` updates (the CLI's loop: same data order, same keys). */
const runUntil = (
  context: TrainContext,
  state: TrainState,
  data: readonly Example[],
  untilStep: number,
  hooks: LoopHooks,
): Promise<TrainState> =>
  trainLoop({ ...context, config: { ...context.config, maxSteps: untilStep } }, state, data, hooks);

/**
 * A trainer driven one step at a time, for notebooks and custom loops.
 *
 * @example
 * ```ts
 * const trainer = createTrainer({ model, tokenizer, data, prompt: taskPrompt, config: { maxSteps: 10 } });
 * const [row] = await trainer.step();
 * console.log(row.reward, row.kl);
 * ```
 */
export const createTrainer = <Columns extends object = object>(
  opts: TrainerOptions<Columns>,
): Trainer => {
  const { config, context, data } = setUp(opts);
  let state = initialState(context);
  const metrics: MetricsRow[] = [];
  return {
    config,
    context,
    get state() {
      return state;
    },
    metrics,
    step: async () => {
      const rows: MetricsRow[] = [];
      state = await runUntil(context, state, data, state.step + 1, {
        onStep: (_, row) => void rows.push(row),
      });
      metrics.push(...rows);
      return rows;
    },
    adapter: () => hostAdapter(config, opts.model, state),
  };
};

class Aborted extends Error {}

/**
 * GRPO + LoRA training in one call: runs `config.maxSteps` updates and returns the adapter,
 * the final state and the metrics. Same data order, keys and numbers as the CLI
 * (`examples/train.ts`) for the same config and seed.
 */
export const train = async <Columns extends object = object>(
  opts: TrainOptions<Columns>,
): Promise<TrainResult> => {
  const { config, context, data } = setUp(opts);
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) {
    fail("signal must be an AbortSignal");
  }
  for (const name of ["onStep", "checkpoint", "start"] as const) {
    if (opts[name] !== undefined && typeof opts[name] !== "function") {
      fail(`${name} must be a function`);
    }
  }
  const fresh = initialState(context);
  let state = opts.start ? await opts.start(fresh) : fresh;
  // The fresh weights and optimizer moments that `start` did not keep (a LoRA-sized tree each:
  // 0.45 GB for a 1.5B model's) would otherwise stay allocated for the whole run.
  disposeReplaced(fresh, state);
  const metrics: MetricsRow[] = [];
  let stopped: TrainStop = "completed";
  let failure: string | null = null;
  try {
    if (opts.signal?.aborted) throw new Aborted();
    state = await runUntil(context, state, data, config.maxSteps, {
      onStep: async (next, row) => {
        state = next;
        metrics.push(row);
        await opts.onStep?.(row, next);
        if (opts.signal?.aborted) throw new Aborted();
      },
      checkpoint: opts.checkpoint,
    });
  } catch (e) {
    if (e instanceof Aborted) stopped = "aborted";
    else if (e instanceof TrainingDiverged) [stopped, failure] = ["diverged", e.message];
    else throw e;
  }
  return {
    adapter: await hostAdapter(config, opts.model, state),
    state,
    metrics,
    config,
    stopped,
    failure,
  };
};
