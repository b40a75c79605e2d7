/**
 * Against a real llama.cpp `llama-server` (built by .ci/build-llama-server.sh from the source in
 * the node-llama-cpp npm package): the GGUF export of each family's fixture reproduces the
 * golden greedy tokens and the in-process log-probs within 1e-4; a 3-step GRPO run through
 * managed servers changes only the adapter, its engine log-probs match the learner's at every
 * step (so step N was sampled from adapter N), and its learner metrics match an in-process run
 * on the same completions; killing one of two servers with SIGKILL mid-step loses nothing.
 * Without a built binary every test here is reported as skipped, never as passed.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { isLeft } from "fp-ts/lib/Either.js";
import { isTensor } from "../../lib/autodiff/grad.ts";
import { toArray } from "../../lib/autodiff/tensor.ts";
import { ggufLora, ggufModel, writeGguf } from "../../lib/io/gguf.ts";
import { readModel } from "../../lib/io/model_weights.ts";
import { readAdapter } from "../../lib/io/peft.ts";
import { readSafetensors } from "../../lib/io/safetensors.ts";
import { adapterToDevice } from "../../lib/model/adapter.ts";
import { loadModel, logits } from "../../lib/model/load.ts";
import { llamaCppProtocol } from "../../lib/rollout/engines.ts";
import { engineSamplingOf } from "../../lib/rollout/http_rollout.ts";
import { findLlamaServer, startLlamaServer } from "../../lib/rollout/llama_server.ts";
import { localLlamaRollout } from "../../lib/rollout/local.ts";
import { postForJson } from "../../lib/rollout/groups.ts";
import { makeCharTokenizer } from "../../lib/tokenizer/mod.ts";
import { resolveConfig, type TrainConfig } from "../../lib/train/config.ts";
import { trainLoop } from "../../lib/train/loop.ts";
import type { MetricsRow } from "../../lib/train/metrics.ts";
import { trainableTree } from "../../lib/train/policy.ts";
import type { Rollout, RolloutResult } from "../../lib/train/rollout.ts";
import { initialState, peftConfigOf, trainContext } from "../../lib/train/setup.ts";
import { treeFlatten } from "../../lib/tree.ts";
import { fixtureVocabulary } from "./helpers.ts";

const FIXTURES = join(import.meta.dirname ?? ".", "..", "fixtures");
const binary = findLlamaServer();
const engineTest = binary ? test : test.skip;
if (!binary) {
  console.log(
    "(llama-server not built: run .ci/build-llama-server.sh or set TINA_LLAMA_SERVER; " +
      "the llama.cpp engine tests are skipped)",
  );
}

const withTemp = async <T>(fn: (dir: string) => Promise<T>): Promise<T> => {
  const dir = await mkdtemp(join(tmpdir(), "tina-llama-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

const logSoftmaxAt = (row: Float32Array, id: number): number => {
  const max = Math.max(...row);
  const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
  return row[id] - lse;
};

for (const family of ["qwen2-tiny", "qwen3-tiny", "llama-tiny"]) {
  engineTest(
    `${family}: GGUF served by llama-server = golden greedy tokens, log-probs within 1e-4`,
    () =>
      withTemp(async (tmp) => {
        const dir = join(FIXTURES, family);
        const { config, weights } = await readModel(dir);
        const hostAdapter = await readAdapter(dir, config);
        const base = join(tmp, "base.gguf"), lora = join(tmp, "lora.gguf");
        await writeGguf(base, ggufModel(config, weights, fixtureVocabulary(config.vocabSize)));
        await writeGguf(lora, ggufLora(config, hostAdapter));
        const golden = await readSafetensors(join(dir, "golden.safetensors"));
        const model = await loadModel(dir, { backend: "ts" });
        const adapter = {
          config: hostAdapter.config,
          weights: adapterToDevice(model.backend, hostAdapter),
        };
        const protocol = llamaCppProtocol();
        for (const [key, withLora] of [["greedy_base", false], ["greedy_lora", true]] as const) {
          const expected = Array.from(golden.ints.get(key)!.data);
          const prompt = expected.slice(0, 4);
          const server = await startLlamaServer({
            binary: binary!,
            model: base,
            lora: withLora ? lora : null,
            threads: 1,
            contextSize: 128,
            parallel: 1,
            logFile: join(tmp, `${key}.log`),
          });
          try {
            const group = {
              prompt,
              n: 1,
              seed: 1,
              adapter: null,
              sampling: {
                ...engineSamplingOf({
                  temperature: 1,
                  topP: 1,
                  topK: null,
                  maxCompletionLength: 6,
                  temperatureInLogprobs: false,
                }, []),
                temperature: 0,
              },
            };
            const { path, body } = protocol.request(group);
            const [c] = protocol.parse(
              await postForJson(`${server.url}${path}`, body, 30_000),
              group,
            );
            assert.equal([...prompt, ...c.tokens], expected, `${family} ${key} tokens`);
            const out = await logits(model, [expected.slice(0, -1)], {
              adapter: withLora ? adapter : null,
            });
            const v = config.vocabSize;
            c.tokens.forEach((id, j) => {
              const pos = prompt.length - 1 + j;
              const ref = logSoftmaxAt(out.data.subarray(pos * v, (pos + 1) * v), id);
              assert.ok(
                Math.abs(c.logprobs[j] - ref) < 1e-4,
                `${key} token ${j}: ${c.logprobs[j]} vs ${ref}`,
              );
            });
          } finally {
            await server.stop();
          }
        }
      }),
  );
}

const tokenizer = makeCharTokenizer({ alphabet: "abcdefghijklmnopqrstuvwxyz0123456789 +-*=.\n" });
const data = Array.from(
  { length: 16 },
  (_, i) => ({ problem: `add ${i} and 1`, answer: `${i + 1}` }),
);
const vowelReward = (completions: readonly string[]) => {
  const total = completions.map((c) => (c.match(/[aeiou]/g)?.length ?? 0) / Math.max(1, c.length));
  return { total, perFunction: { vowels: total } };
};

const config = (overrides: Record<string, unknown>): TrainConfig => {
  const decoded = resolveConfig({
    preset: "tina",
    maxSteps: 3,
    promptsPerStep: 2,
    numGenerations: 4,
    gradientAccumulationSteps: 2,
    temperature: 1,
    maxPromptLength: 32,
    maxCompletionLength: 8,
    learningRate: 1e-2,
    scheduleSteps: null,
    lora: { r: 4, alpha: 8, dropout: 0 },
    checkpointEvery: 0,
    ...overrides,
  }, "test");
  if (isLeft(decoded)) throw new Error(decoded.left);
  return decoded.right;
};

const hostTree = async (tree: unknown): Promise<number[][]> => {
  const out: number[][] = [];
  for (const [, t] of treeFlatten(tree, isTensor)) out.push(Array.from(await toArray(t)));
  return out;
};

/** A GRPO run on the qwen2-tiny fixture with the given rollout (default: in-process). */
const runWith = async (
  cfg: TrainConfig,
  rollout?: (ctx: ReturnType<typeof trainContext>) => Promise<Rollout>,
) => {
  const model = await loadModel(join(FIXTURES, "qwen2-tiny"), { backend: "ts" });
  const plain = trainContext({
    config: cfg,
    model,
    tokenizer,
    promptOf: (ex) => [{ role: "user", content: ex.problem ?? "" }],
    rewards: vowelReward,
    now: () => 0,
  });
  const ctx = rollout ? { ...plain, rollout: await rollout(plain) } : plain;
  const initial = initialState(ctx);
  const before = {
    base: await hostTree(model.params),
    adapter: await hostTree(trainableTree(initial.trainable)),
  };
  const rows: MetricsRow[] = [];
  const state = await trainLoop(ctx, initial, data, { onStep: (_, row) => void rows.push(row) });
  return { rows, state, model, before, ctx };
};

const localRollout =
  (tmp: string, cfg: TrainConfig, servers: number) =>
  async (ctx: ReturnType<typeof trainContext>) => {
    const { config: modelConfig, weights } = await readModel(join(FIXTURES, "qwen2-tiny"));
    return await localLlamaRollout({
      binary: binary!,
      modelConfig,
      weights,
      vocabulary: fixtureVocabulary(modelConfig.vocabSize),
      servers,
      threads: servers,
      parallel: cfg.numGenerations * cfg.promptsPerStep,
      sequenceLength: cfg.maxPromptLength + cfg.maxCompletionLength,
      sampling: engineSamplingOf(cfg, ctx.stopTokens),
      lora: peftConfigOf(cfg, null),
      workDir: tmp,
    });
  };

engineTest(
  "3 GRPO steps through llama-server: only the adapter changes; engine = learner log-probs; metrics = in-process on the same completions",
  () =>
    withTemp(async (tmp) => {
      const cfg = config({});
      const recorded: RolloutResult[] = [];
      let engine: Awaited<ReturnType<ReturnType<typeof localRollout>>> | null = null;
      const viaServer = await runWith(cfg, async (ctx) => {
        engine = await localRollout(tmp, cfg, 1)(ctx);
        return async (request) => {
          const out = await engine!.rollout(request);
          recorded.push(out);
          return out;
        };
      }).finally(() => engine?.close());
      assert.is(viaServer.rows.length, 3);
      assert.equal(
        await hostTree(viaServer.model.params),
        viaServer.before.base,
        "base weights unchanged",
      );
      assert.not.equal(
        await hostTree(trainableTree(viaServer.state.trainable)),
        viaServer.before.adapter,
      );
      for (const row of viaServer.rows) {
        assert.ok(
          row["sampling/sampling_logp_difference/mean"] < 1e-4,
          `step ${row.step}: engine vs learner log-probs differ by ${
            row["sampling/sampling_logp_difference/mean"]
          }`,
        );
        assert.ok(Math.abs(row["sampling/importance_sampling_ratio/mean"] - 1) < 1e-3);
      }
      // The same completions through the in-process learner (no engine, so no correction).
      let i = 0;
      const replay = await runWith(cfg, () =>
        Promise.resolve(() => {
          const { engine: _, ...result } = recorded[i++];
          return Promise.resolve(result);
        }));
      for (const [s, row] of replay.rows.entries()) {
        for (
          const key of ["loss", "kl", "grad_norm", "entropy", "reward", "completions/mean_length"]
        ) {
          const a = viaServer.rows[s][key], b = row[key];
          assert.ok(
            Math.abs(a - b) <= 1e-3 * Math.max(1, Math.abs(b)),
            `step ${s + 1} ${key}: ${a} vs ${b}`,
          );
        }
      }
    }),
);

engineTest(
  "kill -9 one of two servers mid-step: the run completes with every group full",
  () =>
    withTemp(async (tmp) => {
      const cfg = config({
        maxSteps: 2,
        promptsPerStep: 16,
        gradientAccumulationSteps: 1,
        maxCompletionLength: 80,
      });
      let engine: Awaited<ReturnType<ReturnType<typeof localRollout>>> | null = null;
      const sizes: number[][] = [];
      let killed: string | null = null;
      const failuresSeen: string[][] = [];
      await runWith(cfg, async (ctx) => {
        engine = await localRollout(tmp, cfg, 2)(ctx);
        return async (request) => {
          const pending = engine!.rollout(request);
          if (!killed) {
            while (engine!.servers().length < 2) await new Promise((r) => setTimeout(r, 5));
            await new Promise((r) => setTimeout(r, 20));
            const victim = engine!.servers()[0];
            killed = victim.url;
            process.kill(victim.pid, "SIGKILL");
          }
          const out = await pending;
          sizes.push(out.tokens.map((t) => t.length));
          failuresSeen.push([...(engine!.lastStats()?.failures.keys() ?? [])]);
          return out;
        };
      }).finally(() => engine?.close());
      assert.is(sizes.length, 2, "both steps ran");
      sizes.forEach((s) => {
        assert.is(s.length, 16 * 4, "every group full");
        assert.ok(s.every((n) => n > 0));
      });
      assert.equal(failuresSeen[0], [killed], "the killed server was dropped mid-step");
      assert.equal(failuresSeen[1], [], "the next step restarted both servers");
    }),
);

test.run();
