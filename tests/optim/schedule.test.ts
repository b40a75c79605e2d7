/** Learning-rate schedules at key steps, against transformers' formulas evaluated by hand. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  constantSchedule,
  cosineWithWarmup,
  linearWithWarmup,
  warmupStepsFromRatio,
} from "../../lib/optim/mod.ts";

const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

test("Tina's schedule: 10% linear warmup, cosine to 10% of peak over 1500 steps", () => {
  const lr = cosineWithWarmup({
    peak: 1e-6,
    warmupSteps: warmupStepsFromRatio(0.1, 1500),
    totalSteps: 1500,
    minRatio: 0.1,
  });
  close(lr(0), 0, "first update has lr 0, as in transformers");
  close(lr(75), 0.5e-6, "mid-warmup");
  close(lr(150), 1e-6, "peak");
  close(lr(825), 0.55e-6, "half-way down: 0.5 · 0.9 + 0.1");
  close(lr(1500), 1e-7, "floor");
  // transformers does not clamp progress: past the horizon the cosine comes back up
  close(
    lr(1650),
    1e-6 * ((0.5 * (1 + Math.cos(Math.PI * 10 / 9))) * 0.9 + 0.1),
    "past the horizon",
  );
});

test("plain cosine (no warmup, floor 0) and constant", () => {
  const lr = cosineWithWarmup({ peak: 2, totalSteps: 100 });
  close(lr(0), 2, "start");
  close(lr(25), 1 + Math.SQRT1_2, "quarter");
  close(lr(100), 0, "end");
  close(constantSchedule(3e-4)(12345), 3e-4, "constant");
  assert.throws(() => cosineWithWarmup({ peak: 1, totalSteps: 10, minRatio: 2 }), /minRatio/);
});

test("linear warmup then linear decay to 0", () => {
  const lr = linearWithWarmup({ peak: 1, warmupSteps: 10, totalSteps: 110 });
  [[0, 0], [5, 0.5], [10, 1], [60, 0.5], [110, 0], [200, 0]].forEach(([s, v]) =>
    close(lr(s), v, `step ${s}`)
  );
  assert.is(warmupStepsFromRatio(0.1, 1001), 101, "ceil, as transformers");
});

test.run();
