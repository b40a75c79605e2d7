/**
 * The three engines' HTTP dialects for one group (one prompt as token ids, n samples, one seed):
 * request bodies and answer parsers, pure. Every request states every sampling field, since
 * servers otherwise apply their own defaults (llama.cpp: top_k 40, top_p 0.95, min_p 0.05; vLLM
 * and SGLang: the checkpoint's generation_config.json).
 */
import {
  arrayField,
  checkGroup,
  type Completion,
  type EngineName,
  field,
  numberAt,
  type Protocol,
  tokenAt,
} from "./protocol.ts";
import type { FinishReason } from "../sampling/generate.ts";

const finishOf = (reason: unknown, where: string): FinishReason => {
  if (reason === "stop" || reason === "length") return reason;
  throw new Error(`response: ${where} is ${JSON.stringify(reason)}, expected "stop" or "length"`);
};

/**
 * vLLM `/v1/completions`: `model` names the step's adapter (loaded by name), `logprobs: 0`
 * returns the sampled token's log-prob only, `return_token_ids` the ids per choice.
 */
export const vllmProtocol = (baseModel: string): Protocol => ({
  engine: "vllm",
  request: (g) => ({
    path: "/v1/completions",
    body: {
      model: g.adapter ?? baseModel,
      prompt: g.prompt,
      n: g.n,
      seed: g.seed,
      max_tokens: g.sampling.maxTokens,
      temperature: g.sampling.temperature,
      top_p: g.sampling.topP,
      top_k: g.sampling.topK ?? -1,
      min_p: g.sampling.minP,
      stop_token_ids: g.sampling.stopTokens,
      skip_special_tokens: false,
      include_stop_str_in_output: true,
      logprobs: 0,
      return_token_ids: true,
    },
  }),
  parse: (response, g) => {
    const choices = arrayField(response, "", "choices");
    const completions = choices.map((choice, i): Completion => {
      const where = `choices[${i}]`;
      const tokens = arrayField(choice, where, "token_ids").map((t, j) =>
        tokenAt(t, `${where}.token_ids[${j}]`)
      );
      const logprobs = arrayField(
        field(choice, where, "logprobs"),
        `${where}.logprobs`,
        "token_logprobs",
      )
        .map((x, j) => numberAt(x, `${where}.logprobs.token_logprobs[${j}]`));
      return {
        tokens,
        logprobs,
        finishReason: finishOf(field(choice, where, "finish_reason"), `${where}.finish_reason`),
      };
    });
    return checkGroup(orderByIndex(choices, completions), g);
  },
});

/** Choices sorted by their `index` field when they carry one (servers may answer out of order). */
const orderByIndex = <T>(raw: readonly unknown[], parsed: readonly T[]): readonly T[] => {
  const indices = raw.map((r) => (r as { index?: unknown })?.index);
  if (!indices.every((i) => typeof i === "number")) return parsed;
  return parsed.map((p, k) => [indices[k] as number, p] as const).sort((a, b) => a[0] - b[0])
    .map(([, p]) => p);
};

/**
 * SGLang native `/generate`: `input_ids`, `sampling_params`, `return_logprob`, and the adapter by
 * name in `lora_path`. Each sample's ids and log-probs come in `meta_info.output_token_logprobs`
 * as `[logprob, token_id, text]`. With n > 1 the answer is a list, one entry per sample.
 */
export const sglangProtocol = (): Protocol => ({
  engine: "sglang",
  request: (g) => ({
    path: "/generate",
    body: {
      input_ids: g.prompt,
      sampling_params: {
        n: g.n,
        max_new_tokens: g.sampling.maxTokens,
        temperature: g.sampling.temperature,
        top_p: g.sampling.topP,
        top_k: g.sampling.topK ?? -1,
        min_p: g.sampling.minP,
        stop_token_ids: g.sampling.stopTokens,
        skip_special_tokens: false,
        no_stop_trim: true,
        sampling_seed: g.seed,
      },
      return_logprob: true,
      logprob_start_len: -1,
      ...(g.adapter ? { lora_path: g.adapter } : {}),
    },
  }),
  parse: (response, g) => {
    const samples = Array.isArray(response) ? response : [response];
    const completions = samples.map((s, i): Completion => {
      const where = `[${i}].meta_info`;
      const meta = field(s, `[${i}]`, "meta_info");
      const entries = arrayField(meta, where, "output_token_logprobs").map((e, j) => {
        const at = `${where}.output_token_logprobs[${j}]`;
        if (!Array.isArray(e) || e.length < 2) {
          throw new Error(`response: ${at} is not [logprob, id, ...]`);
        }
        return { logprob: numberAt(e[0], `${at}[0]`), id: tokenAt(e[1], `${at}[1]`) };
      });
      const finish = field(meta, where, "finish_reason");
      return {
        tokens: entries.map((e) => e.id),
        logprobs: entries.map((e) => e.logprob),
        finishReason: finishOf(
          field(finish, `${where}.finish_reason`, "type"),
          `${where}.finish_reason.type`,
        ),
      };
    });
    return checkGroup(orderByIndex(samples, completions), g);
  },
});

/** llama.cpp's stop types: an end-of-generation token or a stop word end a completion early. */
const LLAMA_STOP: Record<string, FinishReason> = { eos: "stop", word: "stop", limit: "length" };

/**
 * llama.cpp `llama-server` native `/completion`: token-id `prompt`, `n_cmpl` samples (children
 * get seed + 1, + 2, ...), `return_tokens` for the ids, `n_probs: 1` for the sampled token's
 * probability: of the raw softmax, or with `post_sampling_probs` after the sampler chain (the
 * temperature-scaled distribution when top-k/top-p/min-p are off). `cache_prompt: false` keeps
 * results independent of what else the server batched. Adapters are fixed at server start.
 */
export const llamaCppProtocol = (): Protocol => ({
  engine: "llama.cpp",
  request: (g) => ({
    path: "/completion",
    body: {
      prompt: g.prompt,
      n_cmpl: g.n,
      seed: g.seed,
      n_predict: g.sampling.maxTokens,
      temperature: g.sampling.temperature,
      top_k: g.sampling.topK ?? 0,
      top_p: g.sampling.topP,
      min_p: g.sampling.minP,
      repeat_penalty: 1,
      samplers: ["top_k", "top_p", "min_p", "temperature"],
      n_probs: 1,
      post_sampling_probs: g.sampling.logprobsAfterTemperature,
      return_tokens: true,
      cache_prompt: false,
      stream: false,
    },
  }),
  parse: (response, g) => {
    const results = Array.isArray(response) ? response : [response];
    const completions = results.map((r, i): Completion => {
      const where = `[${i}]`;
      const tokens = arrayField(r, where, "tokens").map((t, j) =>
        tokenAt(t, `${where}.tokens[${j}]`)
      );
      const probs = arrayField(r, where, "completion_probabilities");
      const logprobs = probs.map((p, j) => {
        const at = `${where}.completion_probabilities[${j}]`;
        if (tokenAt(field(p, at, "id"), `${at}.id`) !== tokens[j]) {
          throw new Error(`response: ${at}.id is not the sampled token ${tokens[j]}`);
        }
        return g.sampling.logprobsAfterTemperature
          ? Math.log(numberAt(field(p, at, "prob"), `${at}.prob`))
          : numberAt(field(p, at, "logprob"), `${at}.logprob`);
      });
      const stop = field(r, where, "stop_type");
      const finishReason = LLAMA_STOP[stop as string];
      if (!finishReason) throw new Error(`response: ${where}.stop_type is ${JSON.stringify(stop)}`);
      return { tokens, logprobs, finishReason };
    });
    return checkGroup(orderByIndex(results, completions), g);
  },
});

export const protocolFor = (engine: EngineName, baseModel = "base"): Protocol =>
  engine === "vllm"
    ? vllmProtocol(baseModel)
    : engine === "sglang"
    ? sglangProtocol()
    : llamaCppProtocol();
