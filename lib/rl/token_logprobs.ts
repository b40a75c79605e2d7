/**
 * Per-token log-probabilities (and entropies) of chosen tokens from whole logits [..., V] (the
 * reference for the fused, chunked lib/rl/head_logprobs.ts, which never makes the logits).
 * One fused logSoftmax gives log p for the whole vocabulary; the chosen tokens are read with
 * a single flat gather (its gradient is a scatter into zeros), and the entropy reuses the
 * same log-softmax rather than computing a second softmax.
 */
import { add, div, exp, gather, logSoftmax, mul, neg, reshape, sum } from "../autodiff/ops.ts";
import { type Tensor, tensor } from "../autodiff/tensor.ts";
import { fmt, sameShape } from "../tensor/shape.ts";

/** Per-token log-probs of given ids, and the entropy when asked for. */
export interface TokenLogProbs {
  /** log p(id) under softmax(logits / temperature), shaped like the ids. */
  readonly logp: Tensor;
  /** Entropy of softmax(logits / temperature) at each position, shaped like the ids. */
  readonly entropy: Tensor;
}

const scaledLogSoftmax = (logits: Tensor, ids: Tensor, temperature: number): Tensor => {
  if (!sameShape(logits.shape.slice(0, -1), ids.shape)) {
    throw new Error(
      `tokenLogProbsAndEntropy: logits ${fmt(logits.shape)} do not match ids ${
        fmt(ids.shape)
      } (expected ids + [V])`,
    );
  }
  if (ids.dtype !== "int32") {
    throw new Error(`tokenLogProbsAndEntropy: ids must be int32, got ${ids.dtype}`);
  }
  if (!(temperature > 0)) {
    throw new Error(`tokenLogProbsAndEntropy: temperature must be > 0, got ${temperature}`);
  }
  return logSoftmax(temperature === 1 ? logits : div(logits, temperature));
};

/** Picks logProbs[..., ids[...]] via flat indices row · V + id (int32: rows · V < 2³¹). */
const pick = (logProbs: Tensor, ids: Tensor): Tensor => {
  const v = logProbs.shape[logProbs.rank - 1];
  const rows = ids.size;
  if (rows * v >= 2 ** 31) {
    throw new Error(
      `tokenLogProbsAndEntropy: ${rows} positions × vocab ${v} overflow int32 indices; chunk the batch`,
    );
  }
  const offsets = tensor(
    ids.backend,
    Int32Array.from({ length: rows }, (_, i) => i * v),
    ids.shape,
    "int32",
  );
  const flat = add(ids, offsets);
  return reshape(gather(reshape(logProbs, [-1]), reshape(flat, [-1]), 0), ids.shape);
};

/**
 * log p of each target id and the entropy −Σ p log p of the same distribution; `temperature`
 * divides the logits first (TRL ≥ 0.16; Tina used 1).
 */
export const tokenLogProbsAndEntropy = (
  logits: Tensor,
  ids: Tensor,
  temperature = 1,
): TokenLogProbs => {
  const logProbs = scaledLogSoftmax(logits, ids, temperature);
  return { logp: pick(logProbs, ids), entropy: neg(sum(mul(exp(logProbs), logProbs), -1)) };
};
