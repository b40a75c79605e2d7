/**
 * Per-kernel wall time: a backend whose kernels object times every call it forwards, keyed by
 * kernel and op (e.g. "binary:mul", "matmul:Bᵀ"). CPU backends run kernels synchronously, so
 * a call's wall time is its compute; on an asynchronous backend it is only the dispatch.
 */
import type { Backend } from "../lib/tensor/backends.ts";

export interface KernelTime {
  readonly kernel: string;
  readonly calls: number;
  readonly ms: number;
}

export interface Profiler {
  readonly backend: Backend;
  /** Totals since the last reset, slowest first. */
  readonly report: () => KernelTime[];
  readonly reset: () => void;
}

/** The name a call is counted under: the op for op-parametrized kernels, transposes for matmul. */
const keyOf = (kernel: string, args: readonly unknown[]): string => {
  if (kernel === "matmul") {
    const flags = `${args[4] ? "Aᵀ" : ""}${args[5] ? "Bᵀ" : ""}`;
    return flags ? `matmul:${flags}` : "matmul";
  }
  return typeof args[0] === "string" ? `${kernel}:${args[0]}` : kernel;
};

export const profileBackend = (inner: Backend): Profiler => {
  const totals = new Map<string, { calls: number; ms: number }>();
  const timed = (kernel: string, fn: (...args: unknown[]) => unknown) => (...args: unknown[]) => {
    const started = performance.now();
    const out = fn(...args);
    const entry = totals.get(keyOf(kernel, args)) ?? { calls: 0, ms: 0 };
    entry.calls += 1;
    entry.ms += performance.now() - started;
    totals.set(keyOf(kernel, args), entry);
    return out;
  };
  const kernels = Object.fromEntries(
    Object.entries(inner.kernels).map((
      [name, value],
    ) => [name, typeof value === "function" ? timed(name, value.bind(inner.kernels)) : value]),
  );
  return {
    backend: { ...inner, kernels: kernels as Backend["kernels"] },
    report: () =>
      [...totals.entries()]
        .map(([kernel, { calls, ms }]) => ({ kernel, calls, ms }))
        .sort((a, b) => b.ms - a.ms),
    reset: () => totals.clear(),
  };
};

/** Prints the `top` slowest kernels of one run of `totalMs`, with the time spent outside kernels. */
const printProfile = (times: readonly KernelTime[], totalMs: number, top = 10): void => {
  const inKernels = times.reduce((s, k) => s + k.ms, 0);
  const pct = (ms: number) => `${(100 * ms / totalMs).toFixed(1)}%`;
  const rows = [
    ["kernel", "calls", "ms", "share"],
    ...times.slice(0, top).map((k) => [k.kernel, String(k.calls), k.ms.toFixed(1), pct(k.ms)]),
    [
      "(all kernels)",
      String(times.reduce((s, k) => s + k.calls, 0)),
      inKernels.toFixed(1),
      pct(inKernels),
    ],
    ["(outside kernels)", "", (totalMs - inKernels).toFixed(1), pct(totalMs - inKernels)],
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  rows.forEach((r) => console.log("  " + r.map((cell, c) => cell.padEnd(widths[c])).join("  ")));
};

/** A workload to profile: built on the (wrapped) backend, run, then released. */
export interface Profiled {
  readonly run: () => Promise<unknown>;
  readonly dispose: () => void;
}

/** Runs `build`'s workload once to warm up, then once more under the profiler, and prints it. */
export const profileOnce = async (
  backend: Backend,
  label: string,
  build: (backend: Backend) => Profiled,
): Promise<void> => {
  const profiler = profileBackend(backend);
  const workload = build(profiler.backend);
  await workload.run();
  profiler.reset();
  const started = performance.now();
  await workload.run();
  const total = performance.now() - started;
  console.log(`profile of ${label} on ${backend.name}: ${total.toFixed(0)} ms`);
  printProfile(profiler.report(), total);
  workload.dispose();
};
