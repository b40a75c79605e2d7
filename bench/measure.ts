/**
 * Timing a heavy task with tinybench: one warm-up run (compilation, allocation, JIT), then
 * as many runs as fit in a time budget (at least one), summarized by the median. Backends
 * too slow for that within a suite's minute get a single cold run instead.
 */
import { Bench } from "tinybench";
import type { Backend } from "../lib/tensor/backends.ts";

export interface Timing {
  /** Median seconds per run. */
  readonly seconds: number;
  readonly runs: number;
}

interface GpuAdapter {
  readonly isFallbackAdapter?: boolean;
  readonly info?: { readonly isFallbackAdapter?: boolean };
}
interface Navigator {
  readonly gpu?: { requestAdapter(): Promise<GpuAdapter | null> };
}

/** Whether WebGPU here is a software rasterizer (e.g. llvmpipe on a GPU-less machine). */
const softwareGpu: Promise<boolean> = (async () => {
  const adapter = await (globalThis as { navigator?: Navigator }).navigator?.gpu?.requestAdapter();
  return adapter?.info?.isFallbackAdapter ?? adapter?.isFallbackAdapter ?? false;
})().catch(() => false);

/**
 * Backends that run the bench model at ~1/10 of the fast CPU backends' speed: tfjs-cpu, and
 * WebGPU on a software adapter.
 */
export const isSlow = async (backend: Backend): Promise<boolean> =>
  backend.name === "tfjs-cpu" || (backend.name === "webgpu" && await softwareGpu);

export const timeTask = async (
  name: string,
  run: () => Promise<unknown>,
  { budgetMs = 3000, warmup = true }: { budgetMs?: number; warmup?: boolean } = {},
): Promise<Timing> => {
  const bench = new Bench({
    time: warmup ? budgetMs : 0,
    iterations: 1,
    warmup,
    warmupTime: 0,
    warmupIterations: 1,
    throws: true,
  });
  bench.add(name, run);
  const [task] = await bench.run();
  const result = task.result;
  if (result.state !== "completed") throw new Error(`${name}: task ${result.state}`);
  return { seconds: result.latency.p50 / 1000, runs: task.runs };
};

/** The timing settings: the given budget, or one cold run on a slow backend. */
export const budgetFor = (slow: boolean, budgetMs = 3000) =>
  slow ? { budgetMs: 0, warmup: false } : { budgetMs, warmup: true };
