/**
 * Tensors: a backend handle with a shape and dtype. Creation registers the tensor with the
 * innermost `scope`, which frees every tensor it created and did not return.
 */
import type { Backend } from "../tensor/backends.ts";
import type { DType, HostArray, Shape } from "../tensor/kernels.ts";
import { checkShape, fmt, sizeOf } from "../tensor/shape.ts";

let nextId = 0;
let live = 0;
const scopes: Set<Tensor>[] = [];

/**
 * An immutable n-dimensional array on a backend: its handle, shape and dtype. Values leave the
 * device only through toArray; dispose (or scope) frees the memory.
 */
export class Tensor {
  /** A unique id (the autodiff tape keys gradients by it). */
  readonly id = nextId++;
  #disposed = false;
  /** Wraps a backend handle; made by tensor(), fill() and the ops, not directly. */
  constructor(
    readonly backend: Backend,
    readonly handle: unknown,
    readonly shape: Shape,
    readonly dtype: DType,
  ) {
    live++;
    scopes.at(-1)?.add(this);
  }
  /** Number of elements. */
  get size(): number {
    return sizeOf(this.shape);
  }
  /** Number of axes. */
  get rank(): number {
    return this.shape.length;
  }
  /** Whether dispose() was called (using it then is an error). */
  get disposed(): boolean {
    return this.#disposed;
  }
  /** Frees the device memory now (idempotent). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    live--;
    this.backend.kernels.dispose(this.handle);
  }
  /** Backend, dtype and shape, for messages. */
  toString(): string {
    return `Tensor(${this.backend.name}, ${this.dtype}, ${fmt(this.shape)})`;
  }
}

/** How many tensors exist and are not yet disposed (a leak detector for tests and loops). */
export const liveTensors = (): number => live;

/** Every tensor reachable through arrays and plain records in `x`; anything else is passed over. */
export const tensorsIn = (x: unknown, out = new Set<Tensor>()): Set<Tensor> => {
  if (x instanceof Tensor) out.add(x);
  else if (Array.isArray(x)) x.forEach((v) => tensorsIn(v, out));
  else if (x !== null && typeof x === "object" && Object.getPrototypeOf(x) === Object.prototype) {
    Object.values(x).forEach((v) => tensorsIn(v, out));
  }
  return out;
};

/**
 * Runs `fn` and disposes every tensor created inside it except those reachable from its
 * result (arrays and plain objects are searched), which move to the enclosing scope.
 */
export const scope = <R>(fn: () => R): R => {
  const created = new Set<Tensor>();
  scopes.push(created);
  let result: R;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    created.forEach((t) => t.dispose());
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    throw new Error("scope(fn): fn must be synchronous; await outside the scope");
  }
  const kept = tensorsIn(result);
  created.forEach((t) => (kept.has(t) ? scopes.at(-1)?.add(t) : t.dispose()));
  return result;
};

/** Removes a tensor from the scopes that would free it (e.g. parameters made inside a scope). */
export const keep = <T extends Tensor>(t: T): T => {
  scopes.forEach((s) => s.delete(t));
  return t;
};

export const assertAlive = (op: string, t: Tensor): void => {
  if (t.disposed) throw new Error(`${op}: input ${t} was already disposed (freed by a scope?)`);
};

/** A tensor from host values (a typed or plain array) with `shape` on `backend`. */
export const tensor = (
  backend: Backend,
  data: HostArray | readonly number[],
  shape: Shape,
  dtype: DType = data instanceof Int32Array ? "int32" : "float32",
): Tensor => {
  checkShape("tensor", shape);
  const arr = data instanceof Float32Array || data instanceof Int32Array
    ? data
    : dtype === "int32"
    ? Int32Array.from(data)
    : Float32Array.from(data);
  if (arr.length !== sizeOf(shape)) {
    throw new Error(`tensor: ${arr.length} values do not fill shape ${fmt(shape)}`);
  }
  const typed = dtype === "int32" && arr instanceof Float32Array
    ? Int32Array.from(arr)
    : dtype === "float32" && arr instanceof Int32Array
    ? Float32Array.from(arr)
    : arr;
  return new Tensor(backend, backend.kernels.upload(typed, shape), shape, dtype);
};

/** A tensor of `shape` with every element `value`. */
export const fill = (
  backend: Backend,
  shape: Shape,
  value: number,
  dtype: DType = "float32",
): Tensor => {
  checkShape("fill", shape);
  return new Tensor(backend, backend.kernels.fill(shape, value, dtype), shape, dtype);
};
/** A float32 tensor of zeros. */
export const zeros = (backend: Backend, shape: Shape): Tensor => fill(backend, shape, 0);
/** A float32 tensor of ones. */
export const ones = (backend: Backend, shape: Shape): Tensor => fill(backend, shape, 1);
/** A rank-0 float32 tensor. */
export const scalar = (backend: Backend, value: number): Tensor => fill(backend, [], value);

/** Copies a tensor's values to the host (the only way out of a device). */
export const toArray = (t: Tensor): Promise<HostArray> => {
  assertAlive("toArray", t);
  return t.backend.kernels.download(t.handle, t.shape, t.dtype);
};

/** Synchronous read-back, available on CPU backends only. */
export const toArraySync = (t: Tensor): HostArray => {
  assertAlive("toArraySync", t);
  const read = t.backend.kernels.downloadSync;
  if (!t.backend.capabilities.syncReads || !read) {
    throw new Error(
      `toArraySync: backend "${t.backend.name}" only reads back asynchronously; use toArray`,
    );
  }
  return read(t.handle, t.shape, t.dtype);
};

/** The value of a one-element tensor, read back to the host. */
export const toScalar = async (t: Tensor): Promise<number> => {
  if (t.size !== 1) throw new Error(`toScalar: expected one value, got shape ${fmt(t.shape)}`);
  return (await toArray(t))[0];
};
