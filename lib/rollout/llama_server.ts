/**
 * A managed local `llama-server` process: started on a free port, ready once `/health` answers
 * 200, its output kept in a log file, and killed when it is stopped, when this process exits,
 * and on Ctrl-C / SIGTERM. llama.cpp cannot load a new adapter file at run time, so a training
 * run restarts the server with `--lora` every step (cheap for the models trained here).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { createServer } from "node:net";
import process from "node:process";

export interface LlamaServerOptions {
  readonly binary: string;
  readonly model: string;
  readonly lora?: string | null;
  readonly threads: number;
  /** Total KV-cache tokens, shared by the `parallel` slots. */
  readonly contextSize: number;
  readonly parallel: number;
  readonly logFile: string;
  readonly startupTimeoutMs?: number;
}

export interface LlamaServer {
  readonly url: string;
  readonly pid: number;
  readonly logFile: string;
  /** Kills the process (SIGKILL after a grace period) and waits for it to exit. */
  readonly stop: () => Promise<void>;
  /** Resolves when the process exits, for whatever reason. */
  readonly exited: Promise<void>;
}

/**
 * Flags for log-prob fidelity: flash attention off and an f32 KV cache reproduce the learner's
 * f32 log-probs to ~1e-5 (llama.cpp's defaults, flash attention with an f16 cache, were 0.009 off
 * on the first token of the fixture).
 */
export const FIDELITY_FLAGS = ["-fa", "off", "-ctk", "f32", "-ctv", "f32"] as const;

const live = new Set<ChildProcess>();
let hooksInstalled = false;

const killAll = () => {
  for (const child of live) child.kill("SIGKILL");
  live.clear();
};

/** Process-wide cleanup: no server outlives this process, however it ends. */
const installHooks = () => {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      killAll();
      process.exit(signal === "SIGINT" ? 130 : 143);
    });
  }
};

/** A TCP port that was free a moment ago (the OS picks it). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });

const HEALTH_POLL_MS = 20;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const logTail = (file: string, lines = 15): string => {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
};

export const llamaServerArgs = (o: LlamaServerOptions, port: number): string[] => [
  "-m",
  o.model,
  ...(o.lora ? ["--lora", o.lora] : []),
  "--host",
  "127.0.0.1",
  "--port",
  String(port),
  "-c",
  String(o.contextSize),
  "-np",
  String(o.parallel),
  "-t",
  String(o.threads),
  "-tb",
  String(o.threads),
  ...FIDELITY_FLAGS,
  "--no-cache-prompt",
  "--no-warmup",
  "--no-webui",
];

export const startLlamaServer = async (o: LlamaServerOptions): Promise<LlamaServer> => {
  installHooks();
  const port = await freePort();
  const log = openSync(o.logFile, "a");
  let child: ChildProcess;
  try {
    // The build's shared libraries sit beside the binary (.ci/build-llama-server.sh).
    const libraries = [dirname(o.binary), process.env.LD_LIBRARY_PATH].filter(Boolean).join(":");
    child = spawn(o.binary, llamaServerArgs(o, port), {
      stdio: ["ignore", log, log],
      env: { ...process.env, LD_LIBRARY_PATH: libraries },
    });
  } finally {
    closeSync(log);
  }
  live.add(child);
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) => {
    const done = (code: number | null) => {
      exitCode = code;
      live.delete(child);
      resolve();
    };
    child.once("exit", done);
    child.once("error", () => done(-1));
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (exitCode !== undefined) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
    await exited;
    clearTimeout(timer);
  };
  const timeoutMs = o.startupTimeoutMs ?? 60_000;
  for (let waited = 0;; waited += HEALTH_POLL_MS) {
    if (exitCode !== undefined) {
      throw new Error(
        `llama-server exited (code ${exitCode}) before it was ready; log ${o.logFile}:\n${
          logTail(o.logFile)
        }`,
      );
    }
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (waited > timeoutMs) {
      await stop();
      throw new Error(
        `llama-server did not become ready on ${url}; log ${o.logFile}:\n${logTail(o.logFile)}`,
      );
    }
    await sleep(HEALTH_POLL_MS);
  }
  return { url, pid: child.pid!, logFile: o.logFile, stop, exited };
};

/** The node-llama-cpp release whose bundled llama.cpp source .ci/build-llama-server.sh builds. */
export const LLAMA_SOURCE_VERSION = "3.21.1";

/**
 * Where a built llama-server is: $TINA_LLAMA_SERVER, else the build script's cache
 * (~/.cache/tina-ts/llama-server-<version>/bin/llama-server); null if neither exists.
 */
export const findLlamaServer = (): string | null => {
  const env = process.env.TINA_LLAMA_SERVER;
  if (env) return existsSync(env) ? env : null;
  const cacheRoot = process.env.TINA_CACHE_DIR ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "tina-ts");
  const cached = join(cacheRoot, `llama-server-${LLAMA_SOURCE_VERSION}`, "bin", "llama-server");
  return existsSync(cached) ? cached : null;
};
