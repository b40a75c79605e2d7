/**
 * End to end on the qwen2-tiny fixture (a real-layout HF directory): GRPO steps with a
 * rule-based reward update only the adapters, and 2 steps + checkpoint + resume + 2 steps
 * equals 4 straight steps, bit for bit.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isLeft } from "fp-ts/lib/Either.js";
import { isTensor } from "../../lib/autodiff/grad.ts";
import { toArray } from "../../lib/autodiff/tensor.ts";
import { loadModel, type Model } from "../../lib/model/load.ts";
import { makeCharTokenizer } from "../../lib/tokenizer/mod.ts";
import { latestCheckpoint, loadCheckpoint, saveCheckpoint } from "../../lib/train/checkpoint.ts";
import { resolveConfig, type TrainConfig } from "../../lib/train/config.ts";
import { trainLoop } from "../../lib/train/loop.ts";
import type { Rollout, RolloutResult } from "../../lib/train/rollout.ts";
import { initialState, peftConfigOf, trainContext } from "../../lib/train/setup.ts";
import type { MetricsRow } from "../../lib/train/metrics.ts";
import type { TrainContext, TrainState } from "../../lib/train/step.ts";
import { trainableTree } from "../../lib/train/policy.ts";
import { optimStateToHost } from "../../lib/optim/state_io.ts";
import { treeFlatten } from "../../lib/tree.ts";
import { testBackends } from "../helpers/backends.ts";

const dir = fileURLToPath(new URL("../fixtures/qwen2-tiny", import.meta.url));
const tokenizer = makeCharTokenizer({ alphabet: "abcdefghijklmnopqrstuvwxyz0123456789 +-*=.\n" });
const data = Array.from(
  { length: 12 },
  (_, i) => ({ problem: `add ${i} and 1`, answer: `${i + 1}` }),
);

const config = (overrides: Record<string, unknown>): TrainConfig => {
  const decoded = resolveConfig({
    preset: "tina",
    maxSteps: 3,
    promptsPerStep: 2,
    numGenerations: 4,
    gradientAccumulationSteps: 2,
    temperature: 1,
    maxPromptLength: 32,
    maxCompletionLength: 6,
    learningRate: 1e-2,
    scheduleSteps: null,
    lora: { r: 4, alpha: 8, dropout: 0.1 },
    checkpointEvery: 0,
    ...overrides,
  }, "test");
  if (isLeft(decoded)) throw new Error(decoded.left);
  return decoded.right;
};

test("limits the step relies on are refused when the config is decoded, naming the field", () => {
  assert.throws(() => config({ adamBeta1: 1 }), /adamBeta1/);
  assert.throws(() => config({ epsilonLow: 1 }), /epsilonLow/);
  assert.throws(() => config({ delta: 1 }), /delta/);
  assert.throws(() => config({ lossType: "ppo" }), /lossType/);
  assert.throws(() => config({ scaleRewards: "sometimes" }), /scaleRewards/);
});

/** A rule anyone can check by eye: the share of vowels in the completion. */
const vowelReward = (completions: readonly string[]) => {
  const total = completions.map((c) => (c.match(/[aeiou]/g)?.length ?? 0) / Math.max(1, c.length));
  return { total, perFunction: { vowels: total } };
};

const contextFor = (model: Model, cfg: TrainConfig): TrainContext =>
  trainContext({
    config: cfg,
    model,
    tokenizer,
    promptOf: (ex) => [{ role: "user", content: ex.problem ?? "" }],
    rewards: vowelReward,
    now: () => 0, // a fixed clock keeps metrics rows comparable across runs
  });

const hostTree = async (tree: unknown): Promise<[string, number[]][]> => {
  const out: [string, number[]][] = [];
  for (const [path, t] of treeFlatten(tree, isTensor)) {
    out.push([path, Array.from(await toArray(t))]);
  }
  return out;
};

const run = async (cfg: TrainConfig, from?: TrainState, model?: Model, rollout?: Rollout) => {
  const m = model ?? await loadModel(dir, { backend: "ts" });
  const ctx = { ...contextFor(m, cfg), ...(rollout ? { rollout } : {}) };
  const rows: MetricsRow[] = [];
  const state = await trainLoop(
    ctx,
    from ?? initialState(ctx),
    data,
    {
      onStep: (_, row) => void rows.push(row),
    },
  );
  return { state, rows, model: m };
};

test("3 GRPO steps run end to end, change the adapters and never the base weights", async () => {
  const model = await loadModel(dir, { backend: "ts" });
  const baseBefore = await hostTree(model.params);
  const cfg = config({});
  const initial = initialState(contextFor(model, cfg));
  const adaptersBefore = await hostTree(trainableTree(initial.trainable));
  const { state, rows } = await run(cfg, initial, model);
  assert.is(state.step, 3);
  assert.is(rows.length, 3);
  for (
    const key of [
      "reward",
      "reward_std",
      "kl",
      "entropy",
      "loss",
      "grad_norm",
      "learning_rate",
      "rewards/vowels/mean",
      "completions/mean_length",
      "clip_ratio/region_mean",
    ]
  ) {
    assert.ok(key in rows[0], `metric ${key}`);
    assert.ok(Number.isFinite(rows[2][key]), `${key} is finite: ${rows[2][key]}`);
  }
  assert.equal(await hostTree(model.params), baseBefore, "base weights unchanged");
  const adaptersAfter = await hostTree(trainableTree(state.trainable));
  assert.not.equal(adaptersAfter, adaptersBefore, "adapters changed");
});

test("2 steps + checkpoint + resume + 2 steps = 4 straight steps (adapters and metrics)", async () => {
  const root = await mkdtemp(join(tmpdir(), "tina-resume-"));
  try {
    const straight = await run(config({ maxSteps: 4 }));
    const first = await run(config({ maxSteps: 2 }));
    const cfg = config({ maxSteps: 4 });
    await saveCheckpoint(join(root, "ckpt"), first.state, {
      config: cfg,
      modelConfig: first.model.config,
      lora: peftConfigOf(cfg, null),
    });
    assert.equal(
      (await readdir(join(root, "ckpt"))).filter((n) => n.startsWith(".tmp")),
      [],
      "no temp folder left",
    );
    const fresh = await loadModel(dir, { backend: "ts" });
    const template = initialState(contextFor(fresh, cfg));
    const restored = await loadCheckpoint(
      (await latestCheckpoint(join(root, "ckpt")))!,
      fresh.backend,
      fresh.config,
      template.trainable,
    );
    const second = await run(cfg, restored.state, fresh);
    assert.equal(
      await hostTree(trainableTree(second.state.trainable)),
      await hostTree(trainableTree(straight.state.trainable)),
    );
    assert.equal([...first.rows, ...second.rows], straight.rows);
    assert.is(second.state.cursor, straight.state.cursor);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("μ = 2 makes two updates from one batch of rollouts, scored once", async () => {
  const { state, rows } = await run(config({ maxSteps: 2, numIterations: 2 }));
  assert.equal(rows.map((r) => r.step), [1, 2]);
  assert.is(state.cursor, 2, "one batch of prompts consumed");
  rows.forEach((r) => assert.ok(Number.isFinite(r.loss) && Number.isFinite(r.grad_norm)));
  // Generation and the fixed-policy forwards are charged once, to the first update.
  const second = rows[1]["cost/flops"] - rows[0]["cost/flops"];
  assert.ok(rows[0]["cost/flops"] > 1.2 * second, "the first update also paid for sampling");
  assert.is(state.ledger.tokensTrained, 2 * rows[0].num_tokens);
});

test("full-parameter mode updates the base-shaped copy, not the reference weights", async () => {
  const model = await loadModel(dir, { backend: "ts" });
  const baseBefore = await hostTree(model.params);
  const { state } = await run(config({ maxSteps: 2, lora: null, beta: 0.04 }), undefined, model);
  assert.is(state.trainable.kind, "full");
  assert.equal(await hostTree(model.params), baseBefore);
  assert.not.equal(await hostTree(trainableTree(state.trainable)), baseBefore);
});

const nanRewards = (c: readonly string[]) => ({ total: c.map(() => NaN), perFunction: {} });

test("a non-finite loss skips the update, and repeated ones stop the run with a clear message", async () => {
  const model = await loadModel(dir, { backend: "ts" });
  const cfg = config({ maxSteps: 5, maxBadSteps: 2 });
  const ctx = { ...contextFor(model, cfg), rewards: nanRewards };
  const initial = initialState(ctx);
  const before = await hostTree(trainableTree(initial.trainable));
  const seen: { step: number; skipped: number; weights: [string, number[]][] }[] = [];
  let message = "";
  await trainLoop(ctx, initial, data, {
    onStep: async (state) =>
      void seen.push({
        step: state.step,
        skipped: state.skippedSteps,
        weights: await hostTree(trainableTree(state.trainable)),
      }),
  }).catch((e) => (message = (e as Error).message));
  assert.match(message, /2 consecutive updates had a non-finite loss or gradient/);
  assert.match(message, /no checkpoint was written/);
  assert.equal(seen.map((s) => [s.step, s.skipped]), [[1, 1], [2, 2]]);
  assert.equal(seen[1].weights, before, "the skipped updates left the adapters as they were");
});

test("after a skipped update the logged learning rate is the one AdamW applies", async () => {
  const model = await loadModel(dir, { backend: "ts" });
  // Warmup over all 3 updates: lr(0) = 0, lr(1) = peak / 3, lr(2) = 2 peak / 3.
  const cfg = config({ maxSteps: 3, warmupRatio: 1, lrScheduler: "linear" });
  let calls = 0;
  const ctx = {
    ...contextFor(model, cfg),
    rewards: (c: readonly string[]) => (calls++ === 0 ? nanRewards(c) : vowelReward(c)),
  };
  const initial = initialState(ctx);
  const before = await hostTree(trainableTree(initial.trainable));
  const rows: MetricsRow[] = [];
  const weights: [string, number[]][][] = [];
  await trainLoop(ctx, initial, data, {
    onStep: async (state, row) => {
      rows.push(row);
      weights.push(await hostTree(trainableTree(state.trainable)));
    },
  });
  assert.equal(rows.map((r) => r.skipped_steps), [1, 1, 1]);
  // The skipped update did not advance the optimizer, so the next one applies lr(0) again.
  assert.equal(rows.map((r) => r.learning_rate), [0, 0, 1e-2 / 3]);
  assert.equal(weights[1], before, "rate 0 applied: nothing moved");
  assert.not.equal(weights[2], before, "rate peak / 3 applied");
});

/** Every number of two equally shaped trees (or metrics rows) within `tol` of each other. */
const assertClose = (got: unknown, want: unknown, tol: number, path = ""): void => {
  if (typeof want === "number") {
    assert.ok(
      typeof got === "number" && Math.abs(got - want) <= tol * Math.max(1, Math.abs(want)),
      `${path}: ${got} vs ${want}`,
    );
  } else if (Array.isArray(want) || (want !== null && typeof want === "object")) {
    for (const [k, v] of Object.entries(want)) {
      assertClose((got as Record<string, unknown>)[k], v, tol, `${path}.${k}`);
    }
  } else assert.equal(got, want, path);
};

// The whole step (rollout scoring, reference and policy forwards, GRPO loss, backward to the
// adapters, clipping, AdamW) on each backend against the pure-TS one. The completions are the
// ones sampled on ts, replayed, so that only the arithmetic differs.
for (const name of (await testBackends()).filter((n) => n !== "ts")) {
  test(`one GRPO step on ${name} agrees with ts within 1e-4 (metrics, optimizer moments)`, async () => {
    const cfg = config({ maxSteps: 1 });
    const sampled: Promise<RolloutResult>[] = [];
    const tsModel = await loadModel(dir, { backend: "ts" });
    const sampleOnTs = contextFor(tsModel, cfg).rollout;
    const recording: Rollout = (request) => {
      const result = sampleOnTs(request);
      sampled.push(result);
      return result;
    };
    const want = await run(cfg, undefined, tsModel, recording);
    let call = 0;
    const replay: Rollout = () => sampled[call++];
    const got = await run(cfg, undefined, await loadModel(dir, { backend: name }), replay);
    assert.is(call, sampled.length, "the same number of rollouts");
    assertClose(got.rows, want.rows, 1e-4, "metrics");
    assertClose(
      await optimStateToHost(got.state.optState),
      await optimStateToHost(want.state.optState),
      1e-4,
      "optState",
    );
  });
}

test.run();
