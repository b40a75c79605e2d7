/**
 * Rollouts on llama.cpp running on this machine: the base model exported once to GGUF, N
 * managed `llama-server` processes sharing the cores, each restarted with the step's adapter.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { ggufModel, type GgufVocabulary, ggufVocabulary, writeGguf } from "../io/gguf.ts";
import type { ModelConfig } from "../io/hf_config.ts";
import type { HostTensor } from "../io/host_tensor.ts";
import type { LoraConfig } from "../io/peft.ts";
import { managedLlamaChannel } from "./adapters.ts";
import { llamaCppProtocol } from "./engines.ts";
import { type HttpRollout, httpRollout } from "./http_rollout.ts";
import type { LlamaServer } from "./llama_server.ts";
import type { EngineSampling } from "./protocol.ts";

/** The vocabulary of a model directory's tokenizer.json, for the GGUF export. */
export const readGgufVocabulary = async (
  modelDir: string,
  vocabSize: number,
  special: {
    readonly bos: number | null;
    readonly eos: readonly number[];
    readonly pad: number | null;
  },
): Promise<GgufVocabulary> => {
  const file = join(modelDir, "tokenizer.json");
  return ggufVocabulary(JSON.parse(await readFile(file, "utf8")), vocabSize, special, file);
};

export interface LocalLlamaOptions {
  readonly binary: string;
  readonly modelConfig: ModelConfig;
  /** The base model's HF-named weights (exported once). */
  readonly weights: ReadonlyMap<string, HostTensor>;
  readonly vocabulary: GgufVocabulary;
  readonly servers: number;
  /** Threads for all servers together (split evenly). */
  readonly threads: number;
  /** Sequences each server decodes at once (its slots). */
  readonly parallel: number;
  /** Longest prompt + completion, in tokens (each slot's share of the KV cache). */
  readonly sequenceLength: number;
  readonly sampling: EngineSampling;
  readonly lora: LoraConfig | null;
  readonly workDir: string;
  readonly timeoutMs?: number;
  readonly log?: (line: string) => void;
}

export const localLlamaRollout = async (
  o: LocalLlamaOptions,
): Promise<HttpRollout & { readonly servers: () => readonly LlamaServer[] }> => {
  await mkdir(o.workDir, { recursive: true });
  const model = join(o.workDir, "base.gguf");
  await writeGguf(model, ggufModel(o.modelConfig, o.weights, o.vocabulary));
  const channel = managedLlamaChannel({
    binary: o.binary,
    model,
    modelConfig: o.modelConfig,
    servers: o.servers,
    threadsPerServer: Math.max(1, Math.floor(o.threads / o.servers)),
    contextSize: o.parallel * o.sequenceLength,
    parallel: o.parallel,
    workDir: o.workDir,
    log: o.log,
  });
  const rollout = httpRollout({
    protocol: llamaCppProtocol(),
    channel,
    sampling: o.sampling,
    lora: o.lora,
    timeoutMs: o.timeoutMs ?? 120_000,
    log: o.log,
  });
  return { ...rollout, servers: channel.servers };
};
