/**
 * Getting each step's adapter to the engines, so that the rollout of step N is sampled from
 * adapter N:
 * - vLLM / SGLang: the PEFT adapter is written to a directory the servers read, loaded under a
 *   name never used before (vLLM keys its prefix cache by name), and the previous name unloaded.
 * - llama.cpp: servers cannot load adapter files at run time, so managed local servers restart
 *   with the step's adapter exported to GGUF.
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { ggufLora, writeGguf } from "../io/gguf.ts";
import type { ModelConfig } from "../io/hf_config.ts";
import { type PeftAdapter, writeAdapter } from "../io/peft.ts";
import { postJson } from "./groups.ts";
import { type LlamaServer, type LlamaServerOptions, startLlamaServer } from "./llama_server.ts";

export interface Published {
  /** The engine's name for the adapter (null: the base model, or fixed at server start). */
  readonly name: string | null;
  /** The endpoints that serve it. */
  readonly endpoints: readonly string[];
}

export interface AdapterChannel {
  /** Makes `adapter` (null: none) servable for rollout number `version`. */
  readonly publish: (version: number, adapter: PeftAdapter | null) => Promise<Published>;
  /** Frees what `publish` made once its rollout is done. */
  readonly retire: (published: Published) => Promise<void>;
  readonly close: () => Promise<void>;
}

/** Adapter names: unique to this run (`tag`) and step, never reused. */
export const adapterName = (tag: string, version: number): string => `${tag}-step-${version}`;

const settle = async (
  endpoints: readonly string[],
  action: (endpoint: string) => Promise<unknown>,
): Promise<{ ok: string[]; failed: string[] }> => {
  const results = await Promise.allSettled(endpoints.map(action));
  const failed = results.flatMap((r, i) =>
    r.status === "rejected" ? [`${endpoints[i]}: ${(r.reason as Error).message ?? r.reason}`] : []
  );
  return { ok: endpoints.filter((_, i) => results[i].status === "fulfilled"), failed };
};

/**
 * vLLM (`VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve ... --enable-lora`) or SGLang
 * (`--enable-lora`): `POST {load}` with `{lora_name, lora_path}` at every endpoint, `POST
 * {unload}` with `{lora_name}` when retired. `dir` must be readable by the servers at the same
 * path (a shared file system).
 */
export const loadingChannel = (o: {
  readonly endpoints: readonly string[];
  readonly dir: string;
  readonly tag: string;
  readonly paths: { readonly load: string; readonly unload: string };
  readonly timeoutMs: number;
  readonly log?: (line: string) => void;
}): AdapterChannel => ({
  publish: async (version, adapter) => {
    if (!adapter) return { name: null, endpoints: o.endpoints };
    const name = adapterName(o.tag, version);
    const path = join(o.dir, name);
    await mkdir(o.dir, { recursive: true });
    await writeAdapter(path, adapter);
    const { ok, failed } = await settle(
      o.endpoints,
      (e) => postJson(`${e}${o.paths.load}`, { lora_name: name, lora_path: path }, o.timeoutMs),
    );
    if (ok.length === 0) {
      throw new Error(
        `rollout: no endpoint loaded adapter ${name} from ${path}:\n  ${failed.join("\n  ")}`,
      );
    }
    failed.forEach((f) => o.log?.(`adapter ${name} not loaded by ${f}`));
    return { name, endpoints: ok };
  },
  retire: async ({ name, endpoints }) => {
    if (!name) return;
    const { failed } = await settle(
      endpoints,
      (e) => postJson(`${e}${o.paths.unload}`, { lora_name: name }, o.timeoutMs),
    );
    failed.forEach((f) => o.log?.(`adapter ${name} not unloaded by ${f}`));
    await rm(join(o.dir, name), { recursive: true, force: true });
  },
  close: () => Promise.resolve(),
});

export const VLLM_ADAPTER_PATHS = {
  load: "/v1/load_lora_adapter",
  unload: "/v1/unload_lora_adapter",
};
export const SGLANG_ADAPTER_PATHS = { load: "/load_lora_adapter", unload: "/unload_lora_adapter" };

/**
 * External llama.cpp servers: they serve whatever they were started with, so only a rollout
 * without an adapter (the base model) can run on them.
 */
export const fixedChannel = (endpoints: readonly string[]): AdapterChannel => ({
  publish: (_version, adapter) => {
    if (adapter) {
      throw new Error(
        "rollout: a llama.cpp server cannot load a new adapter at run time; use managed local " +
          "servers (--rollout llama.cpp without a URL), which restart with each step's adapter",
      );
    }
    return Promise.resolve({ name: null, endpoints });
  },
  retire: () => Promise.resolve(),
  close: () => Promise.resolve(),
});

export interface ManagedLlamaOptions {
  readonly binary: string;
  /** The base model as GGUF (lib/io/gguf.ts `ggufModel`). */
  readonly model: string;
  readonly modelConfig: ModelConfig;
  readonly servers: number;
  readonly threadsPerServer: number;
  readonly contextSize: number;
  readonly parallel: number;
  /** Where adapters and server logs go. */
  readonly workDir: string;
  readonly log?: (line: string) => void;
}

/**
 * `servers` local llama-server processes, restarted with each step's adapter as GGUF. A server
 * that fails to start is reported and left out of that step; if none starts, publish fails.
 */
export const managedLlamaChannel = (
  o: ManagedLlamaOptions,
): AdapterChannel & { readonly servers: () => readonly LlamaServer[] } => {
  let running: LlamaServer[] = [];
  const stopAll = async () => {
    const old = running;
    running = [];
    await Promise.all(old.map((s) => s.stop()));
  };
  return {
    publish: async (version, adapter) => {
      await mkdir(o.workDir, { recursive: true });
      const lora = adapter ? join(o.workDir, `adapter-step-${version}.gguf`) : null;
      if (lora && adapter) await writeGguf(lora, ggufLora(o.modelConfig, adapter));
      await stopAll();
      const options = (i: number): LlamaServerOptions => ({
        binary: o.binary,
        model: o.model,
        lora,
        threads: o.threadsPerServer,
        contextSize: o.contextSize,
        parallel: o.parallel,
        logFile: join(o.workDir, `llama-server-${i}.log`),
      });
      const started = await Promise.allSettled(
        Array.from({ length: o.servers }, (_, i) => startLlamaServer(options(i))),
      );
      running = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
      const failed = started.flatMap((r, i) =>
        r.status === "rejected" ? [`server ${i}: ${(r.reason as Error).message}`] : []
      );
      if (running.length === 0) {
        throw new Error(`rollout: no llama-server started:\n${failed.join("\n")}`);
      }
      failed.forEach((f) => o.log?.(f));
      return { name: lora, endpoints: running.map((s) => s.url) };
    },
    retire: async ({ name }) => {
      if (name) await rm(name, { force: true });
    },
    close: stopAll,
    servers: () => running,
  };
};
