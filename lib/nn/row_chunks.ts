/**
 * Position-wise work in row chunks, so that activations wider than the residual stream stay
 * under the backend's per-tensor byte limit (WebGPU's maxStorageBufferBindingSize): a 4096-token
 * sequence of a Qwen2.5-1.5B MLP is a [4096, 8960] float32 tensor, 147 MB, over the 128 MiB many
 * adapters allow. Without a limit, or when everything fits, there is one chunk and no extra op.
 */
import { concat, reshape, slice } from "../autodiff/ops.ts";
import type { Tensor } from "../autodiff/tensor.ts";
import { sizeOf } from "../tensor/shape.ts";
import { blockRows } from "./vocab_blocks.ts";

/**
 * f over chunks of the rows of x [..., H] (all leading axes flattened), each chunk small enough
 * that a [rows, width] float32 intermediate fits the binding limit; results are concatenated
 * back into x's leading shape. `f` gets the chunk's index, to draw distinct randomness per chunk.
 */
export const mapRowChunks = (
  x: Tensor,
  width: number,
  f: (rows: Tensor, chunk: number | null) => Tensor,
): Tensor => {
  const lead = x.shape.slice(0, -1);
  const n = sizeOf(lead);
  const per = blockRows(n, width, x.backend.maxBindingBytes);
  if (per >= n) return f(x, null);
  const h = x.shape[x.rank - 1];
  const flat = reshape(x, [n, h]);
  const parts = Array.from(
    { length: Math.ceil(n / per) },
    (_, i) => f(slice(flat, [i * per, 0], [Math.min(per, n - i * per), h]), i),
  );
  const out = concat(parts, 0);
  return reshape(out, [...lead, out.shape[1]]);
};
