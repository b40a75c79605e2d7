/**
 * Token log-probs straight from the last hidden states and the LM head, a fused op with a
 * hand-written gradient (customVjp): rows are processed in chunks, so no [N, V] logits tensor for the whole
 * batch ever exists — not in the forward, and not kept for the backward, which recomputes each
 * chunk's logits. The head comes as row blocks (lib/nn/vocab_blocks.ts) and a chunk's logits
 * are made a block at a time, their logsumexp combined across blocks, so with a 150k
 * vocabulary neither the head nor any logits tensor exceeds WebGPU's per-binding limit.
 *
 *   logp[n] = z[n, t_n] − logsumexp(z[n, :]),  z = h Wᵀ / temperature
 *   ∂logp[n]/∂z[n, :] = onehot(t_n) − softmax(z[n, :])
 */
import {
  add,
  concat,
  customVjp,
  div,
  exp,
  gather,
  matmul,
  mul,
  neg,
  reshape,
  scatterAdd,
  slice,
  sub,
  sum,
} from "../autodiff/ops.ts";
import { scope, type Tensor, tensor } from "../autodiff/tensor.ts";
import { blockLogSoftmax, gatherRouted, routeIds, type Routing } from "../nn/vocab_blocks.ts";
import { bytesOf, fmt } from "../tensor/shape.ts";
import type { TokenLogProbs } from "./token_logprobs.ts";

/** Rows per chunk so that one chunk's logits stay near `maxElements` values. */
export const headChunkRows = (vocab: number, maxElements = 1 << 22): number =>
  Math.max(1, Math.floor(maxElements / vocab));

/** The target's place in one head block, for the rows of a chunk whose target it holds. */
interface BlockPicks {
  /** Flat indices row · V_b + local target into the chunk's [rows, V_b] logits. */
  readonly picks: Tensor;
  /** The chunk rows these are; null when the block holds every row's target. */
  readonly rows: Tensor | null;
}

interface Chunk {
  readonly begin: number;
  readonly rows: number;
  readonly routing: Routing;
  /** Per head block; null where the block holds none of the chunk's targets. */
  readonly blocks: readonly (BlockPicks | null)[];
}

const chunkLogits = (hidden: Tensor, head: Tensor, c: Chunk, temperature: number): Tensor => {
  const h = slice(hidden, [c.begin, 0], [c.rows, hidden.shape[1]]);
  const z = matmul(h, head, { transposeB: true });
  return temperature === 1 ? z : div(z, temperature);
};

/** Log-softmax of a chunk's logits, one [rows, V_b] tensor per head block. */
const chunkLogSoftmax = (hidden: Tensor, head: readonly Tensor[], c: Chunk, temperature: number) =>
  blockLogSoftmax(head.map((w) => chunkLogits(hidden, w, c, temperature)));

/**
 * hidden [N, H], head [V, H] as row blocks (the lm_head or tied embedding), targets N ids.
 * Returns log-probs [N] (differentiable in hidden and every head block) and entropies [N] (no
 * gradient, for metrics). By default a chunk's rows keep its logits near 4M values and each
 * block's share under the backend's maxBindingBytes.
 */
export const headTokenLogProbs = (
  hidden: Tensor,
  head: readonly Tensor[],
  targets: Int32Array,
  temperature = 1,
  chunkRows: number = defaultChunkRows(hidden, head),
): TokenLogProbs => {
  const [n, h] = hidden.shape;
  const sizes = head.map((w) => w.shape[0]);
  const v = sizes.reduce((s, r) => s + r, 0);
  const shapes = head.map((w) => fmt(w.shape)).join(", ");
  if (
    hidden.rank !== 2 || head.length === 0 || head.some((w) => w.rank !== 2 || w.shape[1] !== h) ||
    targets.length !== n
  ) {
    throw new Error(
      `headTokenLogProbs: hidden ${fmt(hidden.shape)}, head blocks ${shapes} and ` +
        `${targets.length} targets do not fit [N, H], [V_i, H]..., N`,
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
    const routing = routeIds(sizes, targets.subarray(begin, begin + rows));
    const blocks = routing.blocks.map(({ positions, rows: local }, b) => {
      if (local.length === 0) return null;
      const flat = Int32Array.from(local, (t, i) => (positions ? positions[i] : i) * sizes[b] + t);
      return {
        picks: tensor(backend, flat, [flat.length]),
        rows: positions && tensor(backend, positions, [positions.length]),
      };
    });
    chunks.push({ begin, rows, routing, blocks });
  }
  // One scope per chunk in both passes: a chunk's vocabulary-wide temporaries (logits,
  // log-softmax, exp; ~16 MB each at 150k) are freed before the next chunk makes its own.
  const fused = customVjp((hidden: Tensor, ...head: Tensor[]) => {
    const parts = chunks.map((c) =>
      scope(() => {
        const lps = chunkLogSoftmax(hidden, head, c, temperature);
        return {
          logp: gatherRouted(
            c.routing,
            [c.rows],
            (b) => gather(reshape(lps[b], [-1]), c.blocks[b]!.picks, 0),
          ),
          entropy: neg(
            lps.map((lp) => sum(mul(exp(lp), lp), -1)).reduce((a, b) => add(a, b)),
          ),
        };
      })
    );
    const joined = {
      output: concat(parts.map((p) => p.logp), 0),
      aux: concat(parts.map((p) => p.entropy), 0),
    };
    // concat of one tensor is that tensor: only free parts that were copied.
    if (parts.length > 1) parts.forEach((p) => (p.logp.dispose(), p.entropy.dispose()));
    return joined;
  }, ([hidden, ...head], g, needs) => {
    const hiddenGrads: Tensor[] = [];
    let headGrads: readonly (Tensor | null)[] = head.map(() => null);
    for (const c of chunks) {
      const step = scope(() => {
        const gc = slice(g, [c.begin], [c.rows]);
        const lps = chunkLogSoftmax(hidden, head, c, temperature);
        // ∂L/∂(hWᵀ) = (onehot(t)·g − softmax·g) / temperature, a block of columns at a time
        const dzs = lps.map((lp, b) => {
          const spread = mul(exp(lp), reshape(gc, [c.rows, 1]));
          const picks = c.blocks[b];
          if (!picks) return div(neg(spread), temperature);
          const gOwned = picks.rows ? gather(gc, picks.rows, 0) : gc;
          const picked = scatterAdd(gOwned, picks.picks, 0, [c.rows * sizes[b]]);
          return div(sub(reshape(picked, [c.rows, sizes[b]]), spread), temperature);
        });
        const hiddenGrad = needs[0]
          ? dzs.map((dz, b) => matmul(dz, head[b])).reduce((a, b) => add(a, b))
          : null;
        const hc = needs.slice(1).includes(true) ? slice(hidden, [c.begin, 0], [c.rows, h]) : null;
        const sums = dzs.map((dz, b) => {
          if (!hc || !needs[b + 1]) return headGrads[b];
          const part = matmul(dz, hc, { transposeA: true });
          return headGrads[b] ? add(headGrads[b]!, part) : part;
        });
        return { hiddenGrad, sums };
      });
      // The running sums of earlier chunks are replaced; free them now.
      headGrads.forEach((prev, b) => prev !== step.sums[b] && prev?.dispose());
      headGrads = step.sums;
      if (step.hiddenGrad) hiddenGrads.push(step.hiddenGrad);
    }
    const hiddenGrad = needs[0] ? concat(hiddenGrads, 0) : null;
    if (hiddenGrads.length > 1) hiddenGrads.forEach((x) => x.dispose());
    return [hiddenGrad, ...headGrads];
  });
  const { output, aux } = fused(hidden, ...head);
  return { logp: output, entropy: aux };
};

/**
 * headChunkRows of the whole vocabulary, and no more rows than keep each block's logits under
 * the backend's maxBindingBytes.
 */
const defaultChunkRows = (hidden: Tensor, head: readonly Tensor[]): number => {
  const vocab = head.reduce((s, w) => s + w.shape[0], 0);
  const limit = hidden.backend.maxBindingBytes;
  const widest = Math.max(...head.map((w) => w.shape[0]));
  const underLimit = limit === undefined ? Infinity : Math.floor(limit / bytesOf([widest]));
  return Math.max(1, Math.min(headChunkRows(vocab), underLimit));
};
