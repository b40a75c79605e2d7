/**
 * Choosing where a run's rollouts come from: in this process (default), OpenAI-compatible
 * servers given by URL (vLLM, SGLang; llama.cpp for base-model sampling only), or managed local
 * llama-server processes on the current model. One value describes the choice; one function
 * builds it.
 */
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { ModelConfig } from "../io/hf_config.ts";
import { readModelWeights } from "../io/model_weights.ts";
import type { LoraConfig } from "../io/peft.ts";
import {
  type AdapterChannel,
  fixedChannel,
  loadingChannel,
  SGLANG_ADAPTER_PATHS,
  VLLM_ADAPTER_PATHS,
} from "./adapters.ts";
import { protocolFor } from "./engines.ts";
import { engineSamplingOf, type HttpRollout, httpRollout } from "./http_rollout.ts";
import { findLlamaServer } from "./llama_server.ts";
import { localLlamaRollout, readGgufVocabulary } from "./local.ts";
import { ENGINE_NAMES, type EngineName } from "./protocol.ts";

export type RolloutChoice =
  | {
    readonly kind: "servers";
    readonly engine: EngineName;
    readonly urls: readonly string[];
    /** Where step adapters are written; the servers must read it at the same path. */
    readonly adapterDir: string | null;
    /** vLLM's `model` for base-model requests (its served model name). */
    readonly baseModel: string;
    readonly timeoutSeconds: number;
  }
  | {
    readonly kind: "local";
    readonly servers: number;
    /** Threads of all local servers together; null: all cores but one. */
    readonly threads: number | null;
    readonly timeoutSeconds: number;
  };

const NO_LLAMA_SERVER = "--rollout llama.cpp: no llama-server found; build it with " +
  ".ci/build-llama-server.sh (cached under ~/.cache/tina-ts) or set TINA_LLAMA_SERVER to its path";

/** What summary.json records about the rollouts. */
export const describeRollout = (c: RolloutChoice | null): Record<string, unknown> =>
  c === null
    ? { engine: "in-process" }
    : c.kind === "local"
    ? { engine: "llama.cpp", servers: c.servers, managed: true }
    : { engine: c.engine, endpoints: c.urls };

/**
 * The choice `--rollout`, `--rollout-engine` and `--rollout-servers` make (null: in-process).
 * Problems are thrown naming the flag.
 */
export const rolloutChoice = (flags: {
  readonly rollout?: string;
  readonly engine?: string;
  readonly servers?: number;
  readonly threads?: number;
  readonly adapterDir?: string;
  readonly baseModel?: string;
  readonly timeoutSeconds?: number;
}): RolloutChoice | null => {
  const timeoutSeconds = flags.timeoutSeconds ?? 600;
  if (flags.rollout === undefined) {
    const stray = flags.engine !== undefined
      ? "--rollout-engine"
      : flags.servers !== undefined
      ? "--rollout-servers"
      : null;
    if (stray) throw new Error(`${stray} needs --rollout URL[,URL...] or --rollout llama.cpp`);
    return null;
  }
  if (flags.engine !== undefined && !ENGINE_NAMES.includes(flags.engine as EngineName)) {
    throw new Error(
      `--rollout-engine must be one of ${ENGINE_NAMES.join(", ")}, got "${flags.engine}"`,
    );
  }
  if (flags.rollout === "llama.cpp") {
    if (flags.engine !== undefined && flags.engine !== "llama.cpp") {
      throw new Error(
        `--rollout llama.cpp starts local llama.cpp servers; --rollout-engine ${flags.engine} contradicts it`,
      );
    }
    if (!findLlamaServer()) throw new Error(NO_LLAMA_SERVER);
    return {
      kind: "local",
      servers: flags.servers ?? 1,
      threads: flags.threads ?? null,
      timeoutSeconds,
    };
  }
  const urls = flags.rollout.split(",").map((u) => u.trim().replace(/\/+$/, ""));
  const bad = urls.find((u) => !/^https?:\/\/[^/]+/.test(u));
  if (bad !== undefined) {
    throw new Error(
      `--rollout: "${bad}" is not an http(s) URL (or give --rollout llama.cpp for local servers)`,
    );
  }
  if (flags.engine === undefined) {
    throw new Error(`--rollout URL needs --rollout-engine ${ENGINE_NAMES.join("|")}`);
  }
  if (flags.servers !== undefined || flags.threads !== undefined) {
    throw new Error(
      "--rollout-servers and --rollout-threads apply to --rollout llama.cpp (local servers) only",
    );
  }
  return {
    kind: "servers",
    engine: flags.engine as EngineName,
    urls,
    adapterDir: flags.adapterDir ?? null,
    baseModel: flags.baseModel ?? "base",
    timeoutSeconds,
  };
};

export interface RolloutRunInfo {
  readonly modelDir: string;
  readonly tokenizerDir: string;
  readonly modelConfig: ModelConfig;
  readonly config: {
    readonly temperature: number;
    readonly topP: number;
    readonly topK: number | null;
    readonly maxCompletionLength: number;
    readonly maxPromptLength: number;
    readonly temperatureInLogprobs: boolean;
    readonly numGenerations: number;
    readonly promptsPerStep: number;
  };
  readonly lora: LoraConfig | null;
  readonly special: {
    readonly bos: number | null;
    readonly stop: readonly number[];
    readonly pad: number;
  };
  /** The run directory: adapters and server logs go under it. */
  readonly workDir: string;
  /**
   * Prefix of the adapter names loaded into vLLM/SGLang, unique to this process of the run (a
   * resumed run must not reuse a name: vLLM keys its prefix cache by adapter name).
   */
  readonly tag: string;
  readonly log?: (line: string) => void;
}

/** The rollout a choice describes, for one run. */
export const buildRollout = async (c: RolloutChoice, run: RolloutRunInfo): Promise<HttpRollout> => {
  if (!run.lora) {
    throw new Error(
      "--rollout: inference servers sample from LoRA adapters; full-parameter runs (--full) sample in-process",
    );
  }
  const sampling = engineSamplingOf(run.config, run.special.stop);
  const timeoutMs = c.timeoutSeconds * 1000;
  if (c.kind === "local") {
    const binary = findLlamaServer();
    if (!binary) throw new Error(NO_LLAMA_SERVER);
    const perServer = Math.ceil(run.config.promptsPerStep / c.servers);
    return await localLlamaRollout({
      binary,
      modelConfig: run.modelConfig,
      weights: await readModelWeights(run.modelDir),
      vocabulary: await readGgufVocabulary(run.tokenizerDir, run.modelConfig.vocabSize, {
        bos: run.special.bos,
        eos: run.special.stop,
        pad: run.special.pad,
      }),
      servers: c.servers,
      // One core is left to the learner and the system: llama.cpp's threads spin-wait on each
      // other, and on an oversubscribed machine two threads measured 30x slower than one.
      threads: c.threads ?? Math.max(1, availableParallelism() - 1),
      parallel: run.config.numGenerations * perServer,
      sequenceLength: run.config.maxPromptLength + run.config.maxCompletionLength,
      sampling,
      lora: run.lora,
      workDir: join(run.workDir, "llama.cpp"),
      timeoutMs,
      log: run.log,
    });
  }
  const adapterDir = c.adapterDir ?? join(run.workDir, "rollout-adapters");
  const channel: AdapterChannel = c.engine === "llama.cpp" ? fixedChannel(c.urls) : loadingChannel({
    endpoints: c.urls,
    dir: adapterDir,
    tag: run.tag,
    paths: c.engine === "vllm" ? VLLM_ADAPTER_PATHS : SGLANG_ADAPTER_PATHS,
    timeoutMs,
    log: run.log,
  });
  return httpRollout({
    protocol: protocolFor(c.engine, c.baseModel),
    channel,
    sampling,
    lora: run.lora,
    timeoutMs,
    log: run.log,
  });
};
