/**
 * Timing the accuracy reward on many inputs (the budget test and bench/rewards.ts): each
 * input once, then the slow ones again, keeping the fastest run, so that a figure measures
 * the work rather than a busy machine's scheduler; plus how much slower the machine ran
 * during the measurement (the median of a yardstick sampled along the way) than at its best.
 */
import { accuracyReward } from "../../lib/rewards/accuracy.ts";

/** A fixed pure-JS workload: how fast this machine runs JS right now. */
const yardstick = () => {
  let h = 0x811c9dc5;
  for (let i = 0; i < 200_000; i++) h = Math.imul(h ^ i, 0x01000193);
  return h;
};
const fastestYardstick = (runs: number) => {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    yardstick();
    best = Math.min(best, performance.now() - start);
  }
  return best;
};
const unloaded = fastestYardstick(20);

/**
 * How much slower the machine is now than at its best in this process (shared CI cores), from
 * the fastest of `runs` yardstick runs; >= 1.
 */
export const slowdownNow = (runs = 3): number => Math.max(1, fastestYardstick(runs) / unloaded);

export interface RewardTimes {
  readonly results: readonly (number | null)[];
  /** Milliseconds per input: the fastest of its runs. */
  readonly times: readonly number[];
  /** How much slower the machine is now than at its best (>= 1). */
  readonly slowdown: number;
}

// An input slower than this is timed again (four more times), its fastest run kept.
const retimeAboveMs = 1;
const extraRuns = 4;
// How often the yardstick samples the machine's speed during a measurement.
const yardstickEvery = 100;

export const rewardTimes = (
  completions: readonly string[],
  gold: (i: number) => string,
): RewardTimes => {
  const results: (number | null)[] = [];
  const times: number[] = [];
  const speeds: number[] = [];
  const run = (i: number) => {
    const start = performance.now();
    results[i] = accuracyReward(completions[i], gold(i));
    return performance.now() - start;
  };
  for (let i = 0; i < completions.length; i++) {
    if (i % yardstickEvery === 0) speeds.push(fastestYardstick(1));
    times[i] = run(i);
    for (let k = 0; k < extraRuns && times[i] > retimeAboveMs; k++) {
      times[i] = Math.min(times[i], run(i));
    }
  }
  speeds.sort((a, b) => a - b);
  const typical = speeds[Math.floor(speeds.length / 2)];
  return { results, times, slowdown: Math.max(1, typical / unloaded) };
};
