/**
 * Grouped-query causal self-attention over [B, heads, T, headDim] tensors, with an additive
 * mask that encodes causality and left padding, and an optional KV cache.
 */
import { add, concat, matmul, mul, reshape, slice, softmax } from "../autodiff/ops.ts";
import { type Tensor, tensor } from "../autodiff/tensor.ts";
import type { Backend } from "../tensor/backends.ts";
import { blockRows } from "./vocab_blocks.ts";

/** Keys and values of the positions seen so far, per layer: [B, kvHeads, S, headDim]. */
export interface KVEntry {
  readonly k: Tensor;
  readonly v: Tensor;
}

/** Large enough to zero a softmax weight, finite so fully masked rows stay NaN-free. */
const MASKED = -1e9;

/**
 * Additive mask [B, 1, T, S] for T new queries after S - T cached positions: query t may see key
 * s when s <= (S - T) + t and key s is not padding (keyMask[b][s] = 1).
 */
export const attentionMask = (
  backend: Backend,
  keyMask: readonly (readonly number[])[],
  queries: number,
): Tensor => {
  const b = keyMask.length;
  const s = keyMask[0]?.length ?? 0;
  const past = s - queries;
  const out = new Float32Array(b * queries * s);
  for (let i = 0; i < b; i++) {
    for (let t = 0; t < queries; t++) {
      for (let j = 0; j < s; j++) {
        const visible = j <= past + t && keyMask[i][j] !== 0;
        out[(i * queries + t) * s + j] = visible ? 0 : MASKED;
      }
    }
  }
  return tensor(backend, out, [b, 1, queries, s]);
};

/**
 * q: [B, H, T, D]; k, v: [B, KV, S, D] (cache already appended); mask: [B, 1, T, S].
 * Query head h reads KV head ⌊h / (H / KV)⌋. The G = H / KV query heads of one KV head are
 * adjacent, so q regroups to [B, KV, G·T, D] and meets k and v without copying them per head.
 * Queries go in chunks when the [B, H, T, S] scores would exceed the backend's binding limit.
 */
export const attend = (q: Tensor, k: Tensor, v: Tensor, mask: Tensor): Tensor => {
  const [b, heads, t, d] = q.shape;
  const s = k.shape[2];
  const per = blockRows(t, b * heads * s, q.backend.maxBindingBytes);
  if (per >= t) return attendAll(q, k, v, mask);
  const chunks = Array.from({ length: Math.ceil(t / per) }, (_, i) => {
    const rows = Math.min(per, t - i * per);
    return attendAll(
      slice(q, [0, 0, i * per, 0], [b, heads, rows, d]),
      k,
      v,
      slice(mask, [0, 0, i * per, 0], [b, 1, rows, s]),
    );
  });
  return concat(chunks, 2);
};

const attendAll = (q: Tensor, k: Tensor, v: Tensor, mask: Tensor): Tensor => {
  const [b, heads, t, d] = q.shape;
  const kvHeads = k.shape[1];
  const s = k.shape[2];
  const group = heads / kvHeads;
  const grouped = reshape(q, [b, kvHeads, group * t, d]);
  const scores = mul(matmul(grouped, k, { transposeB: true }), 1 / Math.sqrt(d));
  const masked = add(reshape(scores, [b, kvHeads, group, t, s]), reshape(mask, [b, 1, 1, t, s]));
  const out = matmul(reshape(softmax(masked), [b, kvHeads, group * t, s]), v);
  return reshape(out, [b, heads, t, d]);
};

export const appendKv = (cache: KVEntry | null, k: Tensor, v: Tensor): KVEntry =>
  cache ? { k: concat([cache.k, k], 2), v: concat([cache.v, v], 2) } : { k, v };
