/**
 * Token log-probs straight from the last hidden states and the LM head, a fused op with a
 * hand-written gradient: rows are processed in chunks, so no [N, V] logits tensor for the whole
 * batch ever exists — not in the forward, and not kept for the backward, which recomputes each
 * chunk's logits. With a 150k vocabulary this is what keeps GRPO inside memory and inside
 * WebGPU's per-binding limit.
 *
 *   logp[n] = z[n, t_n] − logsumexp(z[n, :]),  z = h Wᵀ / temperature
 *   ∂logp[n]/∂z[n, :] = onehot(t_n) − softmax(z[n, :])
 */
import {
  add,
  concat,
  div,
  exp,
  gather,
  logSoftmax,
  matmul,
  mul,
  neg,
  reshape,
  scatterAdd,
  slice,
  sub,
  sum,
} from "../autodiff/ops.ts";
import { record, untraced } from "../autodiff/tape.ts";
import { type Tensor, tensor } from "../autodiff/tensor.ts";
import { fmt } from "../tensor/shape.ts";
import type { TokenLogProbs } from "./logprobs.ts";

/** Rows per chunk so that one chunk's logits stay near `maxElements` values. */
export const headChunkRows = (vocab: number, maxElements = 1 << 22): number =>
  Math.max(1, Math.floor(maxElements / vocab));

interface Chunk {
  readonly begin: number;
  readonly rows: number;
  /** Flat indices row · V + target of this chunk's targets. */
  readonly picks: Tensor;
}

const chunkLogits = (hidden: Tensor, head: Tensor, c: Chunk, temperature: number): Tensor => {
  const h = slice(hidden, [c.begin, 0], [c.rows, hidden.shape[1]]);
  const z = matmul(h, head, { transposeB: true });
  return temperature === 1 ? z : div(z, temperature);
};

/**
 * hidden [N, H], head [V, H] (the lm_head or tied embedding), targets N ids. Returns log-probs
 * [N] (differentiable in hidden and head) and entropies [N] (no gradient, for metrics).
 */
export const headTokenLogProbs = (
  hidden: Tensor,
  head: Tensor,
  targets: Int32Array,
  temperature = 1,
  chunkRows = headChunkRows(head.shape[0]),
): TokenLogProbs => {
  const [n, h] = hidden.shape;
  const v = head.shape[0];
  if (hidden.rank !== 2 || head.rank !== 2 || head.shape[1] !== h || targets.length !== n) {
    throw new Error(
      `headTokenLogProbs: hidden ${fmt(hidden.shape)}, head ${fmt(head.shape)} and ` +
        `${targets.length} targets do not fit [N, H], [V, H], N`,
    );
  }
  const bad = targets.find((t) => t < 0 || t >= v);
  if (bad !== undefined) throw new Error(`headTokenLogProbs: target ${bad} outside [0, ${v})`);
  if (!(temperature > 0)) {
    throw new Error(`headTokenLogProbs: temperature must be > 0, got ${temperature}`);
  }
  const backend = hidden.backend;
  const chunks: Chunk[] = [];
  for (let begin = 0; begin < n; begin += chunkRows) {
    const rows = Math.min(chunkRows, n - begin);
    const flat = Int32Array.from({ length: rows }, (_, i) => i * v + targets[begin + i]);
    chunks.push({ begin, rows, picks: tensor(backend, flat, [rows]) });
  }
  const { logp, entropy } = untraced(() => {
    const parts = chunks.map((c) => {
      const lp = logSoftmax(chunkLogits(hidden, head, c, temperature));
      return {
        logp: gather(reshape(lp, [-1]), c.picks, 0),
        entropy: neg(sum(mul(exp(lp), lp), -1)),
      };
    });
    return {
      logp: concat(parts.map((p) => p.logp), 0),
      entropy: concat(parts.map((p) => p.entropy), 0),
    };
  });
  const out = record(logp, [hidden, head], (g, needs) =>
    untraced(() => {
      const hiddenGrads: Tensor[] = [];
      let headGrad: Tensor | null = null;
      for (const c of chunks) {
        const gc = slice(g, [c.begin], [c.rows]);
        const probs = exp(logSoftmax(chunkLogits(hidden, head, c, temperature)));
        const picked = reshape(scatterAdd(gc, c.picks, 0, [c.rows * v]), [c.rows, v]);
        // ∂L/∂(hWᵀ) = (onehot(t)·g − softmax·g) / temperature
        const dz = div(sub(picked, mul(probs, reshape(gc, [c.rows, 1]))), temperature);
        if (needs[0]) hiddenGrads.push(matmul(dz, head));
        if (needs[1]) {
          const hc = slice(hidden, [c.begin, 0], [c.rows, h]);
          const part = matmul(dz, hc, { transposeA: true });
          headGrad = headGrad ? add(headGrad, part) : part;
        }
      }
      return [needs[0] ? concat(hiddenGrads, 0) : null, headGrad];
    }));
  return { logp: out, entropy };
};
