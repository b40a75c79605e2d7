/**
 * Optimizer state to and from the host, for checkpoints. A state is any nesting of arrays and
 * plain records whose leaves are tensors, numbers (step counts) or null; on the host each
 * tensor becomes a HostTensor ({shape, data}) in the same place, so a checkpoint writer can
 * put the tensors in a safetensors file and the rest in JSON. Pass a fresh `init(params)`
 * state's structure back through optimStateFromHost to resume.
 */
import { isTensor } from "../autodiff/grad.ts";
import { type Tensor, tensor, toArray } from "../autodiff/tensor.ts";
import type { Backend } from "../tensor/backends.ts";
import type { HostTensor } from "../io/host_tensor.ts";
import { treeMap } from "../tree.ts";

const isHostTensor = (x: unknown): x is HostTensor =>
  x !== null && typeof x === "object" && (x as HostTensor).data instanceof Float32Array &&
  Array.isArray((x as HostTensor).shape);

/** Copies every tensor of `state` to the host; numbers and structure are kept as they are. */
export const optimStateToHost = async (state: unknown): Promise<unknown> => {
  const pending: Promise<void>[] = [];
  const copies = new Map<Tensor, HostTensor>();
  treeMap(state, isTensor, (t) => {
    if (t.dtype !== "float32") {
      throw new Error(`optimStateToHost: expected float32 state, got ${t}`);
    }
    pending.push(
      toArray(t).then((data) =>
        void copies.set(t, { shape: [...t.shape], data: data as Float32Array })
      ),
    );
  });
  await Promise.all(pending);
  return treeMap(state, isTensor, (t) => copies.get(t));
};

/** The inverse of optimStateToHost: uploads every HostTensor leaf to `backend`. */
export const optimStateFromHost = <S>(backend: Backend, host: unknown): S =>
  treeMap(host, isHostTensor, (h) => tensor(backend, h.data, h.shape)) as S;
