/** The training loop: GRPO steps over a shuffled data stream, with hooks for the edges. */
import type { Example } from "../rewards/mod.ts";
import { foldIn } from "../random/prng.ts";
import type { MetricsRow } from "./metrics.ts";
import { grpoStep, type TrainContext, type TrainState } from "./step.ts";
import { shuffledStream } from "./stream.ts";

/** The edges of a training loop: what happens after each update and at checkpoints. */
export interface LoopHooks {
  /** After every optimizer update (metrics sinks, progress bars). */
  readonly onStep?: (state: TrainState, row: MetricsRow) => void | Promise<void>;
  /** Called every `checkpointEvery` updates and at the end. */
  readonly checkpoint?: (state: TrainState) => Promise<void>;
}

/** Thrown when maxBadSteps updates in a row had a non-finite loss or gradient. */
export class TrainingDiverged extends Error {}

/**
 * Runs GRPO steps over a shuffled data stream until config.maxSteps, calling the hooks; returns the
 * final state.
 */
export const trainLoop = async (
  ctx: TrainContext,
  initial: TrainState,
  data: readonly Example[],
  hooks: LoopHooks = {},
): Promise<TrainState> => {
  const cfg = ctx.config;
  const batchAt = shuffledStream(data, foldIn(initial.key, 0x5eed));
  let state = initial;
  let lastSaved = initial.step;
  // A resumed run starts from a checkpoint; a fresh one has none until the first save.
  let saved = initial.step > 0;
  while (state.step < cfg.maxSteps) {
    const { state: next, rows } = await grpoStep(
      ctx,
      state,
      batchAt(state.cursor, cfg.promptsPerStep),
    );
    state = next;
    for (const row of rows) await hooks.onStep?.(state, row);
    if (state.badSteps >= cfg.maxBadSteps) {
      throw new TrainingDiverged(
        `training stopped at step ${state.step}: ${state.badSteps} consecutive updates had a non-finite ` +
          `loss or gradient (lower the learning rate, or check the rewards); ` +
          (saved
            ? `the last checkpoint is from step ${lastSaved}`
            : "no checkpoint was written (checkpointEvery is 0, or no save was due yet)"),
      );
    }
    const due = cfg.checkpointEvery > 0 &&
      Math.floor(state.step / cfg.checkpointEvery) > Math.floor(lastSaved / cfg.checkpointEvery);
    if (hooks.checkpoint && due) {
      await hooks.checkpoint(state);
      lastSaved = state.step;
      saved = true;
    }
  }
  if (hooks.checkpoint && lastSaved !== state.step) await hooks.checkpoint(state);
  return state;
};
