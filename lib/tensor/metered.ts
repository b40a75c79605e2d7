/**
 * A backend that counts the bytes of the buffers its kernels have made and not yet freed, and
 * the peak of that count: how the memory planner's estimates and the activation-memory tests
 * are checked against what the code really holds.
 */
import type { Backend } from "./backends.ts";
import { HalfMatrix } from "./half.ts";
import type { Kernels } from "./kernels.ts";

export interface Meter {
  /** Bytes of live buffers now. */
  readonly live: () => number;
  /** The most bytes live at once since the start or the last `resetPeak`. */
  readonly peak: () => number;
  /** Starts a new peak from the bytes live now. */
  readonly resetPeak: () => void;
}

/** Bytes of a host buffer (the pure-TS backend's handles: typed arrays, 16-bit matrices). */
const typedArrayBytes = (handle: unknown): number =>
  ArrayBuffer.isView(handle) || handle instanceof HalfMatrix ? handle.byteLength : 0;

/** Kernels that free or read buffers rather than make them. */
const NOT_MAKING = new Set(["name", "dispose", "download", "downloadSync", "writeInto"]);

/**
 * `backend` with every kernel's result counted. A kernel may return one of its inputs (reshape
 * on the pure-TS backend does); such a buffer is counted once and freed with its last handle.
 */
export const meteredBackend = (
  backend: Backend,
  bytesOf: (handle: unknown) => number = typedArrayBytes,
): { readonly backend: Backend; readonly meter: Meter } => {
  const handles = new Map<unknown, number>();
  let live = 0;
  let peak = 0;
  const made = (handle: unknown): unknown => {
    const count = handles.get(handle) ?? 0;
    handles.set(handle, count + 1);
    if (count === 0) {
      live += bytesOf(handle);
      peak = Math.max(peak, live);
    }
    return handle;
  };
  // Most kernels make one handle; adamMoments makes an array of them.
  const madeAll = (out: unknown): unknown => (Array.isArray(out) ? out.map(made) : made(out));
  const inner = backend.kernels as unknown as Record<string, unknown>;
  const wrapped = Object.fromEntries(
    Object.entries(inner).map(([name, value]) =>
      typeof value !== "function" || NOT_MAKING.has(name)
        ? [name, value]
        : [name, (...args: unknown[]) => madeAll((value as (...a: unknown[]) => unknown)(...args))]
    ),
  );
  // Every dispose reaches the backend, which counts a shared buffer's handles itself (the
  // pure-TS pool reuses it after the last); the bytes stop counting here at the last handle.
  const dispose = (handle: unknown): void => {
    const count = handles.get(handle);
    if (count === undefined) return;
    backend.kernels.dispose(handle);
    if (count > 1) {
      handles.set(handle, count - 1);
      return;
    }
    handles.delete(handle);
    live -= bytesOf(handle);
  };
  const kernels = { ...wrapped, dispose } as unknown as Kernels<unknown>;
  return {
    backend: { ...backend, kernels },
    meter: { live: () => live, peak: () => peak, resetPeak: () => (peak = live) },
  };
};
