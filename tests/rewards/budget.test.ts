// The accuracy reward's time budget (issue #13): the inputs that once stalled the parser for
// seconds, and a seeded set of adversarial completions, each scored in {0, 1, null} without
// throwing, none over 100 ms and the 99th percentile under 5 ms. Each input's time is the
// fastest of a few runs and bounds scale with the machine's current slowdown, so that a
// loaded CI machine measures the work, not its scheduler.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { accuracyReward } from "../../lib/rewards/accuracy.ts";
import { adversarialCompletions, adversarialGold, namedSlowInputs } from "./adversarial.ts";
import { rewardTimes } from "./timing.ts";

const maxMs = 100;
const p99Ms = 5;

test("warm up: the first call that needs the compute engine builds it", () => {
  assert.is(accuracyReward("\\boxed{(x+1)^2}", "x^2+2x+1"), 1);
});

test("the inputs that stalled the old parser score fast and never throw", () => {
  const { results, times, slowdown } = rewardTimes(namedSlowInputs, () => "\\frac{1}{2}");
  for (const [i, input] of namedSlowInputs.entries()) {
    assert.ok([0, 1, null].includes(results[i]), `${input}: ${results[i]}`);
    assert.ok(times[i] < maxMs * slowdown, `${input.slice(0, 80)} took ${times[i].toFixed(1)} ms`);
  }
  // As gold answers too: unreadable golds are skipped (null), never a stall.
  const asGold = rewardTimes(namedSlowInputs.map(() => "\\boxed{1}"), (i) => namedSlowInputs[i]);
  for (const [i, ms] of asGold.times.entries()) {
    assert.ok([0, 1, null].includes(asGold.results[i]));
    assert.ok(ms < maxMs * asGold.slowdown, `gold ${namedSlowInputs[i].slice(0, 80)}: ${ms} ms`);
  }
});

/** Runs `f` with every console method replaced by a counter; returns what f returned and the count. */
const countingConsoleOutput = <T>(f: () => T): { readonly value: T; readonly lines: number } => {
  const methods = ["log", "info", "warn", "error", "debug", "trace"] as const;
  const saved = methods.map((name) => console[name]);
  let lines = 0;
  for (const name of methods) console[name] = () => void lines++;
  try {
    return { value: f(), lines };
  } finally {
    methods.forEach((name, i) => (console[name] = saved[i]));
  }
};

test(`adversarial completions: p99 < ${p99Ms} ms, none over ${maxMs} ms, results in {0, 1, null}, silent`, () => {
  const completions = adversarialCompletions(2000);
  const { value, lines } = countingConsoleOutput(() => rewardTimes(completions, adversarialGold));
  const { results, times, slowdown } = value;
  assert.is(lines, 0, "the reward wrote to the console");
  const sorted = [...times].sort((a, b) => a - b);
  const p99 = sorted[Math.floor(0.99 * sorted.length)];
  const max = sorted[sorted.length - 1];
  console.log(
    `accuracy reward on ${completions.length} adversarial completions: p99 ${p99.toFixed(2)} ms, ` +
      `max ${max.toFixed(1)} ms (machine slowdown ×${slowdown.toFixed(1)})`,
  );
  assert.ok(results.every((r) => r === null || r === 0 || r === 1));
  assert.ok(p99 < p99Ms * slowdown, `p99 ${p99.toFixed(2)} ms`);
  assert.ok(max < maxMs * slowdown, `max ${max.toFixed(1)} ms`);
});

test.run();
