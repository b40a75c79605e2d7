/**
 * vLLM and SGLang request/response handling through the HTTP rollout, against a tiny local
 * server that answers in each engine's documented shape. The answers are NOT recordings of a
 * running engine (none can run here): they follow the field lists of the engines' documentation
 * (vLLM: docs.vllm.ai "OpenAI-Compatible Server", Completions API with `logprobs` and
 * `return_token_ids`, and "LoRA Adapters" dynamic loading; SGLang: docs.sglang.io
 * "Sampling Parameters" / "Native APIs" `/generate` with `return_logprob`, and
 * `/load_lora_adapter`), with made-up values.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadAdapter, loadModel } from "../../lib/model/load.ts";
import { loraScaling } from "../../lib/io/peft.ts";
import { prngKey } from "../../lib/random/prng.ts";
import {
  loadingChannel,
  SGLANG_ADAPTER_PATHS,
  VLLM_ADAPTER_PATHS,
} from "../../lib/rollout/adapters.ts";
import { sglangProtocol, vllmProtocol } from "../../lib/rollout/engines.ts";
import { groupSeed, httpRollout } from "../../lib/rollout/http_rollout.ts";
import type { EngineSampling } from "../../lib/rollout/protocol.ts";
import { fakeServer } from "./helpers.ts";

const FIXTURE = join(import.meta.dirname ?? ".", "..", "fixtures", "qwen2-tiny");
const sampling: EngineSampling = {
  temperature: 0.7,
  topP: 1,
  topK: null,
  minP: 0,
  maxTokens: 8,
  stopTokens: [2],
  logprobsAfterTemperature: false,
};

/** A vLLM /v1/completions answer (legacy completions logprobs + per-choice token_ids). */
const vllmAnswer = (body: { n: number; prompt: number[]; model: string }) => ({
  id: "cmpl-doc-shaped",
  object: "text_completion",
  created: 1700000000,
  model: body.model,
  choices: Array.from({ length: body.n }, (_, i) => ({
    index: i,
    text: "x=",
    logprobs: {
      text_offset: [0, 1, 2],
      token_logprobs: [-0.25, -1.5, -0.125 * (i + 1)],
      tokens: ["token_id:40", "token_id:41", "token_id:2"],
      top_logprobs: [null, null, null],
    },
    finish_reason: i === 0 ? "length" : "stop",
    stop_reason: null,
    prompt_token_ids: body.prompt,
    token_ids: [40, 41, 2],
  })),
  usage: { prompt_tokens: body.prompt.length, completion_tokens: 3 * body.n, total_tokens: 0 },
});

/** An SGLang native /generate answer for n samples (a list, one entry per sample). */
const sglangAnswer = (body: { sampling_params: { n: number } }) =>
  Array.from({ length: body.sampling_params.n }, (_, i) => ({
    text: "7<",
    output_ids: [50, 2],
    meta_info: {
      id: `doc-shaped-${i}`,
      finish_reason: i === 1 ? { type: "length", length: 2 } : { type: "stop", matched: 2 },
      prompt_tokens: 3,
      completion_tokens: 2,
      cached_tokens: 0,
      output_token_logprobs: [[-0.5, 50, null], [-2.25 - i, 2, null]],
    },
  }));

const policyOf = async () => {
  const model = await loadModel(FIXTURE);
  const adapter = await loadAdapter(FIXTURE, model);
  return {
    lora: adapter.config,
    policy: {
      params: model.params,
      adapter: { weights: adapter.weights, scaling: loraScaling(adapter.config) },
    },
  };
};

test("vLLM: load step-N under a new name, sample with model=step-N, unload it; parse ids and log-probs", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tina-vllm-"));
  const loadedFiles: boolean[] = [];
  const server = await fakeServer((path, body) => {
    const b = body as Record<string, unknown>;
    if (path === "/v1/load_lora_adapter") {
      loadedFiles.push(existsSync(join(b.lora_path as string, "adapter_config.json")));
      return { body: `Success: LoRA adapter '${b.lora_name}' added successfully.` };
    }
    if (path === "/v1/unload_lora_adapter") {
      return { body: `Success: LoRA adapter '${b.lora_name}' removed successfully.` };
    }
    return { body: vllmAnswer(b as never) };
  });
  try {
    const { lora, policy } = await policyOf();
    const engine = httpRollout({
      protocol: vllmProtocol("base-model"),
      channel: loadingChannel({
        endpoints: [server.url],
        dir,
        tag: "run1",
        paths: VLLM_ADAPTER_PATHS,
        timeoutMs: 5000,
      }),
      sampling,
      lora,
      timeoutMs: 5000,
    });
    const key = prngKey(7);
    const request = { prompts: [[1, 30, 31], [1, 32]], numGenerations: 2, policy, key };
    const first = await engine.rollout(request);
    await engine.rollout(request);
    assert.equal(first.tokens, [[40, 41, 2], [40, 41, 2], [40, 41, 2], [40, 41, 2]]);
    assert.equal(first.logprobs[1], [-0.25, -1.5, -0.25]);
    assert.equal(first.finishReasons, ["length", "stop", "length", "stop"]);
    assert.is(first.engine, "vllm");
    const paths = server.requests.map((r) => r.path);
    assert.equal(paths, [
      "/v1/load_lora_adapter",
      "/v1/completions",
      "/v1/completions",
      "/v1/unload_lora_adapter",
      "/v1/load_lora_adapter",
      "/v1/completions",
      "/v1/completions",
      "/v1/unload_lora_adapter",
    ]);
    const bodies = server.requests.map((r) => r.body as Record<string, unknown>);
    assert.is(bodies[0].lora_name, "run1-step-1");
    assert.is(bodies[4].lora_name, "run1-step-2", "a name is never reused");
    assert.ok(loadedFiles.every(Boolean), "the PEFT adapter is on disk before the load call");
    // The two groups are requested concurrently: find the first group's request by its prompt.
    const stepOne = bodies.slice(1, 3);
    const completion = stepOne.find((body) => (body.prompt as number[]).length === 3)!;
    assert.is(completion.model, "run1-step-1");
    assert.equal(completion.prompt, [1, 30, 31]);
    assert.is(completion.n, 2);
    assert.is(completion.logprobs, 0);
    assert.is(completion.return_token_ids, true);
    assert.is(completion.top_k, -1);
    assert.is(completion.temperature, 0.7);
    assert.is(completion.max_tokens, 8);
    assert.equal(completion.stop_token_ids, [2]);
    assert.is(completion.seed, groupSeed(key, 0));
    assert.is.not(bodies[1].seed, bodies[2].seed, "each group has its own seed");
    assert.not.ok(existsSync(join(dir, "run1-step-1")), "retired adapters are removed");
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("SGLang: /load_lora_adapter, lora_path per request, input_ids, return_logprob; unload", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tina-sglang-"));
  const server = await fakeServer((path, body) =>
    path === "/generate"
      ? { body: sglangAnswer(body as never) }
      : { body: { success: true, message: "ok" } }
  );
  try {
    const { lora, policy } = await policyOf();
    const engine = httpRollout({
      protocol: sglangProtocol(),
      channel: loadingChannel({
        endpoints: [server.url],
        dir,
        tag: "r",
        paths: SGLANG_ADAPTER_PATHS,
        timeoutMs: 5000,
      }),
      sampling: { ...sampling, topK: 5 },
      lora,
      timeoutMs: 5000,
    });
    const out = await engine.rollout({
      prompts: [[1, 9]],
      numGenerations: 3,
      policy,
      key: prngKey(1),
    });
    assert.equal(out.tokens, [[50, 2], [50, 2], [50, 2]]);
    assert.equal(out.logprobs, [[-0.5, -2.25], [-0.5, -3.25], [-0.5, -4.25]]);
    assert.equal(out.finishReasons, ["stop", "length", "stop"]);
    const [load, generate, unload] = server.requests;
    assert.is(load.path, "/load_lora_adapter");
    assert.is((load.body as { lora_name: string }).lora_name, "r-step-1");
    const g = generate.body as Record<string, Record<string, unknown>>;
    assert.equal(g.input_ids, [1, 9] as never);
    assert.is(g.return_logprob, true as never);
    assert.is(g.lora_path, "r-step-1" as never);
    assert.is(g.sampling_params.top_k, 5);
    assert.is(g.sampling_params.n, 3);
    assert.is(unload.path, "/unload_lora_adapter");
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("malformed answers are errors naming the field", () => {
  const group = { prompt: [1], n: 2, seed: 1, adapter: null, sampling };
  const v = vllmProtocol("m");
  const answer = vllmAnswer({ n: 2, prompt: [1], model: "m" });
  assert.throws(() => v.parse({ choices: [answer.choices[0]] }, group), /1 completions for n = 2/);
  const noIds = { choices: answer.choices.map(({ token_ids: _, ...c }) => c) };
  assert.throws(() => v.parse(noIds, group), /choices\[0\]\.token_ids/);
  const nan = structuredClone(answer);
  nan.choices[1].logprobs.token_logprobs[0] = null as never;
  assert.throws(() => v.parse(nan, group), /choices\[1\]\.logprobs\.token_logprobs\[0\]/);
  const s = sglangProtocol();
  const bad = sglangAnswer({ sampling_params: { n: 2 } });
  bad[0].meta_info.output_token_logprobs[1] = [-1] as never;
  assert.throws(() => s.parse(bad, group), /output_token_logprobs\[1\]/);
});

test("a load refused by every server fails the step, naming the adapter and servers", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tina-vllm-"));
  const server = await fakeServer(() => ({ status: 400, body: "runtime LoRA updating is off" }));
  try {
    const { lora, policy } = await policyOf();
    const engine = httpRollout({
      protocol: vllmProtocol("m"),
      channel: loadingChannel({
        endpoints: [server.url],
        dir,
        tag: "t",
        paths: VLLM_ADAPTER_PATHS,
        timeoutMs: 5000,
      }),
      sampling,
      lora,
      timeoutMs: 5000,
    });
    const err = await engine.rollout({ prompts: [[1]], numGenerations: 2, policy, key: prngKey(0) })
      .catch((e: Error) => e);
    assert.match(String(err), /t-step-1/);
    assert.match(String(err), server.url);
    assert.match(String(err), /runtime LoRA updating is off/);
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
