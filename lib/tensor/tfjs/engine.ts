/**
 * Starting tfjs backends and switching between them.
 *
 * tfjs keeps one global engine with one active backend, and `tf.setBackend` is async because a
 * backend may need to load (wasm) or open a device (webgpu). Once a backend is initialized,
 * though, switching back to it completes synchronously, so each of our backends makes its tfjs
 * backend active before every kernel (`activate`). Several tfjs backends can therefore live in
 * one process; tensors never move between them because each of ours is only ever produced and
 * consumed by the backend that made it.
 */
import * as tf from "@tensorflow/tfjs-core";

export type TfjsBackendName = "tfjs-cpu" | "tfjs-wasm" | "webgpu";

/** The name tfjs registers each backend under. */
export const tfjsNames: Readonly<Record<TfjsBackendName, string>> = {
  "tfjs-cpu": "cpu",
  "tfjs-wasm": "wasm",
  webgpu: "webgpu",
};

interface GpuProbe {
  readonly gpu?: { requestAdapter(): Promise<unknown | null> };
}

const registerWasm = async (): Promise<void> => {
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  // The .wasm binaries sit next to the package's entry file; Deno, Bun and Node all resolve it
  // to a file: URL that emscripten's loader reads from disk.
  wasm.setWasmPaths(new URL("./", import.meta.resolve("@tensorflow/tfjs-backend-wasm")).href);
};

const registerWebgpu = async (): Promise<void> => {
  const gpu = (globalThis.navigator as GpuProbe | undefined)?.gpu;
  if (!gpu) {
    throw new Error(
      "webgpu: this runtime has no navigator.gpu; WebGPU needs Deno (or another runtime with " +
        "navigator.gpu). Use tfjs-cpu or tfjs-wasm here.",
    );
  }
  if ((await gpu.requestAdapter()) === null) {
    throw new Error(
      "webgpu: navigator.gpu found no adapter; on a machine without a GPU install a software " +
        "Vulkan driver (see .ci/install-webgpu.sh)",
    );
  }
  await import("@tensorflow/tfjs-backend-webgpu");
};

const register: Readonly<Record<TfjsBackendName, () => Promise<unknown>>> = {
  "tfjs-cpu": () => import("@tensorflow/tfjs-backend-cpu"),
  "tfjs-wasm": registerWasm,
  webgpu: registerWebgpu,
};

const started = new Map<TfjsBackendName, Promise<void>>();
/** Backend starts run one at a time: tfjs abandons an init when another setBackend begins. */
let queue: Promise<unknown> = Promise.resolve();

const start = async (name: TfjsBackendName): Promise<void> => {
  await register[name]();
  // The CPU backends otherwise print a note about tfjs-node to the console on first use.
  tf.enableProdMode();
  if (!(await tf.setBackend(tfjsNames[name]))) {
    throw new Error(`${name}: tfjs could not start its "${tfjsNames[name]}" backend`);
  }
};

/** Registers and initializes a tfjs backend once per process; later calls share the result. */
export const startTfjsBackend = (name: TfjsBackendName): Promise<void> => {
  const known = started.get(name);
  if (known) return known;
  const run = queue.then(() => start(name));
  queue = run.catch(() => {});
  // A failed start may be retried (e.g. after installing a driver).
  const once = run.catch((e) => {
    started.delete(name);
    throw e;
  });
  started.set(name, once);
  return once;
};

/** Makes `name`'s tfjs backend the active one, synchronously (it must have been started). */
export const activate = (name: TfjsBackendName): void => {
  const tfName = tfjsNames[name];
  if (tf.getBackend() === tfName) return;
  if (tf.findBackend(tfName) === null) {
    throw new Error(`${name}: tfjs backend "${tfName}" is not initialized; load it first`);
  }
  // Completes before returning: the backend exists, so setBackend never reaches an await.
  void tf.setBackend(tfName);
  if (tf.getBackend() !== tfName) throw new Error(`${name}: could not switch tfjs to "${tfName}"`);
};

/** The engine's backend instance for `name` (to read device limits). */
export const tfjsBackendInstance = (name: TfjsBackendName): unknown =>
  tf.findBackend(tfjsNames[name]);
