/** The training loop: GRPO steps over a shuffled data stream, with hooks for the edges. */
import type { Example } from "../rewards/mod.ts";
import { foldIn } from "../random/prng.ts";
import { grpoStep, type MetricsRow, type TrainContext, type TrainState } from "./step.ts";
import { shuffledStream } from "./stream.ts";

export interface LoopHooks {
  /** After every optimizer update (metrics sinks, progress bars). */
  readonly onStep?: (state: TrainState, row: MetricsRow) => void | Promise<void>;
  /** Called every `checkpointEvery` updates and at the end. */
  readonly checkpoint?: (state: TrainState) => Promise<void>;
}

export class TrainingDiverged extends Error {}

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
          `the last good checkpoint is from step ${lastSaved}`,
      );
    }
    const due = cfg.checkpointEvery > 0 &&
      Math.floor(state.step / cfg.checkpointEvery) > Math.floor(lastSaved / cfg.checkpointEvery);
    if (hooks.checkpoint && due) {
      await hooks.checkpoint(state);
      lastSaved = state.step;
    }
  }
  if (hooks.checkpoint && lastSaved !== state.step) await hooks.checkpoint(state);
  return state;
};
