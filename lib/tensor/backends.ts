/** Backend selection by name: the one place a program chooses where tensors live. */
import type { Backend } from "../autodiff/tensor.ts";
import { type BackendName, backendNames } from "./kernels.ts";
import { tsKernels } from "./ts/kernels.ts";

export const tsBackend: Backend = { name: "ts", kernels: tsKernels };

export const loadBackend = async (name: string): Promise<Backend> => {
  if (!backendNames.includes(name as BackendName)) {
    throw new Error(`unknown backend "${name}"; choose one of: ${backendNames.join(", ")}`);
  }
  if (name === "ts") return tsBackend;
  const { loadTfjsBackend } = await import("./tfjs/kernels.ts");
  return loadTfjsBackend(name as Exclude<BackendName, "ts">);
};

/** The backends that start on this runtime (webgpu only where navigator.gpu has an adapter). */
export const availableBackends = async (): Promise<BackendName[]> => {
  const usable: BackendName[] = [];
  for (const name of backendNames) {
    // One at a time: tfjs initializes one backend at a time.
    if (await loadBackend(name).then(() => true, () => false)) usable.push(name);
  }
  return usable;
};
