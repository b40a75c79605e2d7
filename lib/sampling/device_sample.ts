/**
 * Sampling without reading logits back: one token per row of logits [B, V], drawn on the
 * tensor backend by the same inverse CDF as `categorical` (lib/random/prng.ts) on the same
 * uniforms, or the argmax when greedy. On WebGPU this keeps a decoding step on the device; the
 * host only uploads B uniforms.
 */
import {
  cast,
  compare,
  cumsum,
  div,
  equal,
  exp,
  logSoftmax,
  max,
  minimum,
  mul,
  reshape,
  slice,
  sub,
  sum,
} from "../autodiff/ops.ts";
import { fill, type Tensor, tensor } from "../autodiff/tensor.ts";
import type { SamplingParams } from "./processors.ts";

/** Whether `sampleOnDevice` applies these settings as the host processors would: temperature only. */
export const samplesOnDevice = (p: SamplingParams): boolean =>
  !p.topK && (p.topP == null || p.topP >= 1) && !p.minP &&
  (p.repetitionPenalty == null || p.repetitionPenalty === 1);

/** Tokens drawn on the device, with their log-probs, without a read-back. */
export interface DeviceDraw {
  /** int32 [B] */
  readonly ids: Tensor;
  /** [B]: log-probs of the ids under the tempered distribution (as `logProbOf`). */
  readonly logprobs: Tensor;
}

/** [B, V] → [B]: the first index of each row's largest value, as a float. */
const firstArgmax = (z: Tensor, index: Tensor): Tensor => {
  const v = z.shape[1];
  const hits = equal(z, max(z, -1, true));
  // v − j is largest at the smallest j among the hits.
  return sub(v, max(mul(hits, sub(v, index)), -1));
};

/**
 * logits [B, V]; `uniforms` one per row in [0, 1) (ignored when temperature is 0). The pick is
 * the first index whose running probability mass exceeds u · total — `categorical`'s rule —
 * clamped to the last index of positive probability against rounding.
 */
export const sampleOnDevice = (
  logits: Tensor,
  temperature: number,
  uniforms: Float32Array,
): DeviceDraw => {
  const [b, v] = logits.shape;
  const backend = logits.backend;
  // 0..v−1 made on the device (exact in float32 up to 2^24), not uploaded every step.
  const index = sub(cumsum(fill(backend, [v], 1, "float32")), 1);
  const z = temperature > 0 ? div(logits, temperature) : logits;
  let picks: Tensor;
  if (temperature === 0) {
    picks = firstArgmax(z, index);
  } else {
    const p = exp(sub(z, max(z, -1, true)));
    const mass = cumsum(p);
    const target = mul(slice(mass, [0, v - 1], [b, 1]), tensor(backend, uniforms, [b, 1]));
    const below = sum(compare("lessEqual", mass, target), -1);
    const lastPositive = max(mul(compare("greater", p, 0), index), -1);
    picks = minimum(below, lastPositive);
  }
  const chosen = equal(reshape(index, [1, v]), reshape(picks, [b, 1]));
  return {
    ids: cast(picks, "int32"),
    logprobs: sum(mul(logSoftmax(z), chosen), -1),
  };
};
