/**
 * Backends: a named set of forward kernels plus what it can and cannot do, and selection by
 * name — the one place a program chooses where tensors live.
 */
import { type BackendName, backendNames, type Kernels } from "./kernels.ts";
import { tsKernels } from "./ts/kernels.ts";

/** What a backend can do, declared by the backend rather than sniffed from its kernels. */
export interface BackendCapabilities {
  /** Values read back without waiting on a device queue (CPU backends; not WebGPU). */
  readonly syncReads: boolean;
  /** Tensors live in device memory, so host reads are the expensive step (WebGPU). */
  readonly deviceMemory: boolean;
}

/** A loaded tensor backend: its kernels and what it can do. */
export interface Backend {
  /** Which backend this is. */
  readonly name: BackendName;
  /** The primitive kernels the ops run on. */
  // deno-lint-ignore no-explicit-any
  readonly kernels: Kernels<any>;
  /** Whether reads can be synchronous and tensors live in device memory. */
  readonly capabilities: BackendCapabilities;
  /**
   * The most bytes one tensor may occupy (WebGPU's maxStorageBufferBindingSize, or a lower
   * test value); absent where tensors are unbounded. Model code splits vocabulary-sized
   * matrices into row blocks under it.
   */
  readonly maxBindingBytes?: number;
  /** What the backend runs on, where that varies by machine (native: the BLAS and threads). */
  readonly detail?: string;
}

/** The capabilities of each backend this library ships. */
export const capabilitiesOf = (name: BackendName): BackendCapabilities =>
  name === "webgpu"
    ? { syncReads: false, deviceMemory: true }
    : { syncReads: true, deviceMemory: false };

/** The pure-TypeScript backend (no dependency; always available). */
export const tsBackend: Backend = {
  name: "ts",
  kernels: tsKernels,
  capabilities: capabilitiesOf("ts"),
};

let native: Promise<Backend> | null = null;

/**
 * The pure-TS backend with matmul on the machine's BLAS (lib/tensor/native), loaded once; an
 * error with the reason on Node (no FFI) or where no CBLAS library loads.
 */
const nativeBackend = (): Promise<Backend> =>
  native ??= Promise.all([import("./native/blas.ts"), import("./native/kernels.ts")]).then(
    ([{ loadBlas }, { nativeKernels }]) => {
      const blas = loadBlas();
      return {
        name: "native",
        kernels: nativeKernels(blas),
        capabilities: capabilitiesOf("native"),
        detail: `${blas.library} on ${blas.threads} thread${blas.threads === 1 ? "" : "s"}`,
      };
    },
  );

/**
 * Loads a backend by name (tfjs backends are imported on first use); an unknown name or an
 * unavailable backend is an error naming the choices.
 */
export const loadBackend = async (name: string): Promise<Backend> => {
  if (!backendNames.includes(name as BackendName)) {
    throw new Error(`unknown backend "${name}"; choose one of: ${backendNames.join(", ")}`);
  }
  if (name === "ts") return tsBackend;
  if (name === "native") return nativeBackend();
  const { loadTfjsBackend } = await import("./tfjs/kernels.ts");
  return loadTfjsBackend(name as Exclude<BackendName, "ts" | "native">);
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
