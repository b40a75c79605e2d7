/**
 * Which CPU backend a run prefers, by model size: XNNPACK (tfjs-wasm) is fastest on small
 * models, where the step is many small kernels; from about 100M parameters the products dominate
 * and a native BLAS (the "native" backend) wins, besides keeping 16-bit weights 16-bit.
 * Measured on a 2-core AMD EPYC, Deno, 0.99M bench shape (bench/shape.json) train step:
 * tfjs-wasm 2324 tokens/s, native 1248, ts 320.
 */
import type { BackendName } from "../tensor/kernels.ts";

/** From this many base parameters, native goes before tfjs-wasm. */
export const NATIVE_FIRST_PARAMETERS = 100e6;

/** The CPU backends in the order a run of `parameters` prefers them, and why. */
export interface CpuPreference {
  readonly order: readonly BackendName[];
  readonly reason: string;
}

/** `loadable` (the CPU backends that start here) ordered for a model of `parameters`. */
export const cpuPreference = (
  parameters: number,
  loadable: readonly BackendName[],
): CpuPreference => {
  const large = parameters >= NATIVE_FIRST_PARAMETERS;
  const ranked: BackendName[] = large
    ? ["native", "tfjs-wasm", "ts"]
    : ["tfjs-wasm", "native", "ts"];
  const order = ranked.filter((name) => loadable.includes(name));
  const size = `${(parameters / 1e6).toFixed(parameters < 10e6 ? 2 : 0)}M parameters`;
  const reason = large
    ? `${size}: a native BLAS is fastest from ${NATIVE_FIRST_PARAMETERS / 1e6}M`
    : `${size}: tfjs-wasm is fastest below ${NATIVE_FIRST_PARAMETERS / 1e6}M`;
  return { order, reason };
};
