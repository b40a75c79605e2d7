/**
 * Grouped-query causal self-attention over [B, heads, T, headDim] tensors, with an additive
 * mask that encodes causality and left padding, and an optional KV cache.
 */
import {
  add,
  broadcastTo,
  concat,
  customVjp,
  matmul,
  minimum,
  mul,
  reshape,
  slice,
  softmax,
} from "../autodiff/ops.ts";
import { softmaxGrad } from "../autodiff/fused.ts";
import { matmulAdd } from "../autodiff/matmul_add.ts";
import { isTracing } from "../autodiff/tape.ts";
import { scope, type Tensor, tensor, zeros } from "../autodiff/tensor.ts";
import type { Backend } from "../tensor/backends.ts";
import { blockRows } from "./vocab_blocks.ts";

/** Keys and values of the positions seen so far, per layer: [B, kvHeads, S, headDim]. */
export interface KVEntry {
  /** The keys, RoPE applied. */
  readonly k: Tensor;
  /** The values. */
  readonly v: Tensor;
  /**
   * Set for a preallocated cache (preallocateKv): k and v hold `capacity` positions of which the
   * first `length` are filled; appending writes in place instead of concatenating.
   */
  readonly length?: number;
}

/** Positions a cache entry holds: all of k for a concatenated one, `length` for a buffer. */
export const cachedLength = (kv: KVEntry): number => kv.length ?? kv.k.shape[2];

/**
 * Empty KV buffers for `capacity` positions, one per layer, on backends that write in place
 * (Kernels.writeInto); null elsewhere (the cache then grows by concatenation).
 */
export const preallocateKv = (
  backend: Backend,
  layers: number,
  shape: { batch: number; kvHeads: number; capacity: number; headDim: number },
): KVEntry[] | null => {
  if (!backend.kernels.writeInto) return null;
  const dims = [shape.batch, shape.kvHeads, shape.capacity, shape.headDim];
  return Array.from({ length: layers }, () => ({
    k: zeros(backend, dims),
    v: zeros(backend, dims),
    length: 0,
  }));
};

/** Large enough to zero a softmax weight, finite so fully masked rows stay NaN-free. */
const MASKED = -1e9;

/**
 * Which keys each of T new queries may see, after S - T cached positions: query t sees key s
 * when s <= (S - T) + t and key s is not padding (keyMask[b][s] = 1). Kept as its two factors,
 * so that no [B, T, S] tensor exists for long sequences: `maskRows` builds a chunk's rows.
 */
export interface AttentionMask {
  /** 0 for real keys, MASKED for padding: [B, 1, 1, S]. */
  readonly padding: Tensor;
  readonly past: number;
  readonly queries: number;
}

export const attentionMask = (
  backend: Backend,
  keyMask: readonly (readonly number[])[],
  queries: number,
  past = (keyMask[0]?.length ?? 0) - queries,
): AttentionMask => {
  const b = keyMask.length;
  const s = keyMask[0]?.length ?? 0;
  const padding = Float32Array.from(keyMask.flat(), (m) => (m !== 0 ? 0 : MASKED));
  return { padding: tensor(backend, padding, [b, 1, 1, s]), past, queries };
};

/** The additive mask [B, 1, rows, S] of queries begin .. begin + rows. */
export const maskRows = (mask: AttentionMask, begin: number, rows: number): Tensor => {
  const s = mask.padding.shape[3];
  const causal = new Float32Array(rows * s);
  for (let t = 0; t < rows; t++) {
    causal.fill(MASKED, t * s + Math.min(s, mask.past + begin + t + 1), (t + 1) * s);
  }
  return minimum(tensor(mask.padding.backend, causal, [1, 1, rows, s]), mask.padding);
};

/**
 * q: [B, H, T, D]; k, v: [B, KV, S, D] (cache already appended).
 * Query head h reads KV head ⌊h / (H / KV)⌋. The G = H / KV query heads of one KV head are
 * adjacent, so q regroups to [B, KV, G·T, D] and meets k and v without copying them per head.
 * Queries go in chunks when the [B, H, T, S] scores would exceed the backend's binding limit
 * or `maxScoreValues` (long sequences on any backend): see chunkedAttention.
 */
export const attend = (
  q: Tensor,
  k: Tensor,
  v: Tensor,
  mask: AttentionMask,
  maxScoreValues = SCORE_CHUNK_VALUES,
): Tensor => {
  const [b, heads, t] = q.shape;
  const s = k.shape[2];
  const perLimit = blockRows(t, b * heads * s, q.backend.maxBindingBytes);
  const per = Math.min(perLimit, Math.max(1, Math.floor(maxScoreValues / (b * heads * s))));
  return per >= t ? attendAll(q, k, v, maskRows(mask, 0, t)) : chunkedAttention(q, k, v, mask, per);
};

/**
 * Scores held at once when nothing else limits them: 1M values (4 MB) per query chunk. A chunk's
 * softmax and its gradient hold about ten such tensors, so this bounds attention's working set
 * near 40 MB at any length.
 */
export const SCORE_CHUNK_VALUES = 1 << 20;

/** Softmax weights [B, KV, G·T, S] of queries regrouped to [B, KV, G·T, D] (see attend). */
const probabilities = (grouped: Tensor, k: Tensor, mask: Tensor, t: number): Tensor => {
  const [b, kvHeads, rows, d] = grouped.shape;
  const s = k.shape[2];
  const group = rows / t;
  // Scaled on the query side: D values per row instead of S.
  const scaled = mul(grouped, 1 / Math.sqrt(d));
  const shared = reshape(mask, [b, 1, 1, t, s]);
  if (!grouped.backend.kernels.writeInto) {
    // tfjs: a broadcasting add is one pass; a broadcast copy and an add would be two.
    const scores = reshape(matmul(scaled, k, { transposeB: true }), [b, kvHeads, group, t, s]);
    return reshape(softmax(add(scores, shared)), [b, kvHeads, rows, s]);
  }
  // The mask for every head of the group, and the scores accumulated onto it (one product, no
  // add), in its buffer when the broadcast made a new one (the mask itself is shared by every
  // layer).
  const perHead = broadcastTo(shared, [b, kvHeads, group, t, s]);
  const consume = perHead !== shared;
  const masked = matmulAdd(reshape(perHead, [b, kvHeads, rows, s]), scaled, k, {
    transposeB: true,
    consume,
  });
  if (consume) perHead.dispose();
  return softmax(masked);
};

const attendAll = (q: Tensor, k: Tensor, v: Tensor, mask: Tensor): Tensor => {
  const [b, heads, t, d] = q.shape;
  const kvHeads = k.shape[1];
  const grouped = reshape(q, [b, kvHeads, (heads / kvHeads) * t, d]);
  return reshape(matmul(probabilities(grouped, k, mask, t), v), [b, heads, t, d]);
};

/**
 * Attention a chunk of `per` queries at a time, with its own gradient (FlashAttention's
 * recomputation, at chunk granularity): the forward keeps only q, k, v and the output, and the
 * backward recomputes each chunk's softmax weights, so neither pass ever holds more than one
 * chunk's [B, H, per, S] scores. Memory stays linear in the sequence length while training.
 */
const chunkedAttention = (
  q: Tensor,
  k: Tensor,
  v: Tensor,
  mask: AttentionMask,
  per: number,
): Tensor => {
  const [b, heads, t, d] = q.shape;
  const kvHeads = k.shape[1];
  const group = heads / kvHeads;
  const chunks = Array.from({ length: Math.ceil(t / per) }, (_, i) => ({
    begin: i * per,
    rows: Math.min(per, t - i * per),
  }));
  const rowsOf = (x: Tensor, { begin, rows }: { begin: number; rows: number }) =>
    slice(x, [0, 0, begin, 0], [b, x.shape[1], rows, x.shape[3]]);
  const regroup = (x: Tensor, rows: number) => reshape(x, [b, kvHeads, group * rows, d]);
  // q, k and v are the op's inputs; the closures read them directly.
  const fused = customVjp(
    (_q: Tensor, _k: Tensor, _v: Tensor) => ({
      output:
        // One scope per chunk: a chunk's scores are freed before the next chunk's are made.
        scope(() =>
          concat(
            chunks.map((c) =>
              scope(() => attendAll(rowsOf(q, c), k, v, maskRows(mask, c.begin, c.rows)))
            ),
            2,
          )
        ),
      aux: null,
    }),
    (_inputs, g, needs) => {
      const scale = 1 / Math.sqrt(d);
      const dqs: Tensor[] = [];
      let dk: Tensor | null = null;
      let dv: Tensor | null = null;
      for (const c of chunks) {
        const step = scope(() => {
          const qc = regroup(rowsOf(q, c), c.rows);
          const gc = regroup(rowsOf(g, c), c.rows);
          const p = probabilities(qc, k, maskRows(mask, c.begin, c.rows), c.rows);
          const dp = matmul(gc, v, { transposeB: true });
          // Softmax's Jacobian, dS = P ⊙ (dP − Σ_s dP ⊙ P), and the scores' scale.
          const ds = mul(softmaxGrad(p, dp), scale);
          const dkPart = needs[1] ? matmul(ds, qc, { transposeA: true }) : null;
          const dvPart = needs[2] ? matmul(p, gc, { transposeA: true }) : null;
          return {
            dq: needs[0] ? reshape(matmul(ds, k), [b, heads, c.rows, d]) : null,
            dk: dk && dkPart ? add(dk, dkPart) : dkPart,
            dv: dv && dvPart ? add(dv, dvPart) : dvPart,
          };
        });
        // The running sums of earlier chunks are replaced; free them now, not at the step's end.
        dk?.dispose();
        dv?.dispose();
        if (step.dq) dqs.push(step.dq);
        dk = step.dk;
        dv = step.dv;
      }
      const dq = needs[0] ? concat(dqs, 2) : null;
      dqs.forEach((x) => x.dispose());
      return [dq, dk, dv];
    },
  );
  return fused(q, k, v).output;
};

export const appendKv = (cache: KVEntry | null, k: Tensor, v: Tensor): KVEntry => {
  if (!cache) return { k, v };
  if (cache.length === undefined) return { k: concat([cache.k, k], 2), v: concat([cache.v, v], 2) };
  const [t, capacity] = [k.shape[2], cache.k.shape[2]];
  if (cache.length + t > capacity) {
    throw new Error(
      `KV cache: ${cache.length} + ${t} positions do not fit its capacity of ${capacity}`,
    );
  }
  if (isTracing()) throw new Error("KV cache: a preallocated cache is for inference only");
  const write = k.backend.kernels.writeInto!;
  write(cache.k.handle, cache.k.shape, k.handle, k.shape, 2, cache.length);
  write(cache.v.handle, cache.v.shape, v.handle, v.shape, 2, cache.length);
  return { k: cache.k, v: cache.v, length: cache.length + t };
};
