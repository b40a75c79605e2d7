/**
 * Vocabulary-sized matrices ([V, H] embedding and LM head) as row blocks, each under the
 * backend's per-tensor byte limit (WebGPU binds one tensor as one storage buffer, often at most
 * 128 MiB; a 150k × 1536 float32 embedding is 933 MB). Blocks are split on the host before
 * upload, looked up by routing ids to the block that owns them, and multiplied one at a time.
 * Without a limit there is exactly one block and every function here costs what the plain
 * unblocked op costs.
 */
import {
  add,
  compare,
  concat,
  exp,
  gather,
  less,
  log,
  logSoftmax,
  matmul,
  max,
  maximum,
  minimum,
  mul,
  reshape,
  stopGradient,
  sub,
  sum,
} from "../autodiff/ops.ts";
import { type Tensor, tensor, toArray } from "../autodiff/tensor.ts";
import type { Backend } from "../tensor/backends.ts";
import type { HostTensor } from "../io/host_tensor.ts";
import { BYTES_PER_VALUE, fmt } from "../tensor/shape.ts";

/**
 * Rows per block so that one [rows, cols] float32 block fits in `maxBindingBytes`, balanced
 * across the fewest blocks. A block's logits for up to `cols` hidden rows at once are then no
 * larger than the block, which is how the chunked head (lib/rl/head_logprobs.ts) stays under
 * the limit too.
 */
export const blockRows = (rows: number, cols: number, maxBindingBytes?: number): number => {
  if (maxBindingBytes === undefined || rows * cols * BYTES_PER_VALUE <= maxBindingBytes) {
    return rows;
  }
  const most = Math.floor(maxBindingBytes / (cols * BYTES_PER_VALUE));
  if (most < 1) {
    throw new Error(
      `blockRows: one row of ${cols} float32 values needs ${cols * BYTES_PER_VALUE} bytes, ` +
        `over the ${maxBindingBytes}-byte limit on one tensor`,
    );
  }
  return Math.ceil(rows / Math.ceil(rows / most));
};

/** Uploads a row-major [rows, cols] host matrix as row blocks under the backend's limit. */
export const splitRows = (
  backend: Backend,
  data: Float32Array,
  shape: readonly number[],
  maxBindingBytes = backend.maxBindingBytes,
): Tensor[] => {
  const [rows, cols] = shape;
  if (shape.length !== 2 || data.length !== rows * cols) {
    throw new Error(`splitRows: ${data.length} values do not fill a matrix of shape ${fmt(shape)}`);
  }
  const per = blockRows(rows, cols, maxBindingBytes);
  if (per === rows) return [tensor(backend, data, shape)];
  return Array.from({ length: Math.ceil(rows / per) }, (_, i) => {
    const n = Math.min(per, rows - i * per);
    return tensor(backend, data.subarray(i * per * cols, (i * per + n) * cols), [n, cols]);
  });
};

/** Reads row blocks back into one host tensor (for writing a single safetensors entry). */
export const rowsToHost = async (blocks: readonly Tensor[]): Promise<HostTensor> => {
  const parts = await Promise.all(blocks.map(async (b) => (await toArray(b)) as Float32Array));
  const shape = [blocks.reduce((n, b) => n + b.shape[0], 0), ...blocks[0].shape.slice(1)];
  if (parts.length === 1) return { shape, data: parts[0] };
  const data = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (data.set(p, at), at + p.length), 0);
  return { shape, data };
};

/** Which of a list of ids fall in one block. */
export interface BlockIds {
  /** Their places in the list; null when the block owns every id, in list order. */
  readonly positions: Int32Array | null;
  /** Their rows within the block. */
  readonly rows: Int32Array;
}

export interface Routing {
  readonly blocks: readonly BlockIds[];
  /** Where each id lands in the block-by-block concatenation; null when one block owns all. */
  readonly order: Int32Array | null;
}

/** Routes ids (rows of the whole matrix) to the blocks of the given row counts, on the host. */
export const routeIds = (sizes: readonly number[], ids: ArrayLike<number>): Routing => {
  const starts = sizes.map((_, b) => sizes.slice(0, b).reduce((s, n) => s + n, 0));
  const total = starts[sizes.length - 1] + sizes[sizes.length - 1];
  const owned: number[][] = sizes.map(() => []);
  Array.from(ids).forEach((id, i) => {
    if (!(Number.isInteger(id) && id >= 0 && id < total)) {
      throw new Error(`routeIds: id ${id} outside the ${total} rows of the blocks`);
    }
    owned[starts.findLastIndex((s) => s <= id)].push(i);
  });
  const rowsOf = (b: number, places: ArrayLike<number>) =>
    Int32Array.from(places, (i) => ids[i] - starts[b]);
  const sole = owned.findIndex((places) => places.length === ids.length);
  if (sole >= 0) {
    return {
      blocks: owned.map((places, b) =>
        b === sole
          ? { positions: null, rows: rowsOf(b, places) }
          : { positions: new Int32Array(0), rows: new Int32Array(0) }
      ),
      order: null,
    };
  }
  const order = new Int32Array(ids.length);
  owned.flat().forEach((place, at) => (order[place] = at));
  return {
    blocks: owned.map((places, b) => ({
      positions: Int32Array.from(places),
      rows: rowsOf(b, places),
    })),
    order,
  };
};

/**
 * One entry per id, each from the block that owns it, back in id order with `shape` (the ids'
 * shape). `take(b, ids)` reads block b's entries: along axis 0, one per owned id, or — when
 * the block owns every id (`ids.positions` null) — already in the shape and order wanted.
 * Differentiable: gathers and a concat.
 */
export const gatherRouted = (
  routing: Routing,
  shape: readonly number[],
  take: (block: number, ids: BlockIds) => Tensor,
): Tensor => {
  const parts = routing.blocks.flatMap((ids, b) => (ids.rows.length > 0 ? [take(b, ids)] : []));
  if (!routing.order) return parts[0];
  return gather(concat(parts, 0), tensor(parts[0].backend, routing.order, shape), 0);
};

/** Rows of the [V, H] matrix in `blocks` for token ids [B][T]: the embedding lookup, [B, T, H]. */
export const embedLookup = (
  blocks: readonly Tensor[],
  ids: readonly (readonly number[])[],
): Tensor => {
  const shape = [ids.length, ids[0]?.length ?? 0];
  const backend = blocks[0].backend;
  const routing = routeIds(blocks.map((b) => b.shape[0]), ids.flat());
  return gatherRouted(routing, shape, (b, owned) =>
    gather(
      blocks[b],
      tensor(backend, owned.rows, owned.positions ? [owned.rows.length] : shape),
      0,
    ));
};

/**
 * embedLookup for ids that stay on the device (int32 [B, T], e.g. sampled there): each block
 * gathers its clamped local rows, zeroed where it does not own the id, and the blocks add up.
 */
export const embedDeviceIds = (blocks: readonly Tensor[], ids: Tensor): Tensor => {
  if (blocks.length === 1) return gather(blocks[0], ids, 0);
  let start = 0;
  const parts = blocks.map((block) => {
    const rows = block.shape[0];
    const local = minimum(maximum(sub(ids, start), 0), rows - 1);
    const owned = mul(compare("greaterEqual", ids, start), less(ids, start + rows));
    start += rows;
    return mul(gather(block, local, 0), reshape(owned, [...ids.shape, 1]));
  });
  return parts.reduce((a, b) => add(a, b));
};

/** hidden [..., H] times the blocks' rows: logits [..., V], one matmul per block. */
export const blockLogits = (hidden: Tensor, blocks: readonly Tensor[]): Tensor =>
  concat(blocks.map((w) => matmul(hidden, w, { transposeB: true })), -1);

/**
 * Log-softmax over the concatenation of `zs` along the last axis, returned as blocks like
 * `zs`: the logsumexp is combined across blocks, shifted by the largest value.
 */
export const blockLogSoftmax = (zs: readonly Tensor[]): Tensor[] => {
  if (zs.length === 1) return [logSoftmax(zs[0])];
  const m = stopGradient(zs.map((z) => max(z, -1, true)).reduce((a, b) => maximum(a, b)));
  const lse = add(log(zs.map((z) => sum(exp(sub(z, m)), -1, true)).reduce((a, b) => add(a, b))), m);
  return zs.map((z) => sub(z, lse));
};
