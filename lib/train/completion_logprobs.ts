/** Per-token log-probs of the completion part of a packed batch under some policy. */
import { reshape, slice } from "../autodiff/ops.ts";
import type { ModelConfig } from "../model/decoder.ts";
import { headBlocks, hiddenStates } from "../model/decoder.ts";
import { headTokenLogProbs } from "../rl/head_logprobs.ts";
import type { TokenLogProbs } from "../rl/token_logprobs.ts";
import type { Policy } from "./policy.ts";
import type { PackedBatch } from "./sequences.ts";

/**
 * log p(completion token | everything before it) for the given rows of the batch, [rows, C],
 * with entropies. The forward drops the last position: nothing is predicted from it. Logits
 * are made a chunk of rows at a time (lib/rl/head_logprobs.ts), as a 150k vocabulary needs.
 */
export const completionLogProbs = (
  modelConfig: ModelConfig,
  policy: Policy,
  batch: PackedBatch,
  rows: readonly number[],
  temperature = 1,
  gradientCheckpointing = false,
): TokenLogProbs => {
  const { promptWidth: p, completionWidth: c } = batch;
  const ids = rows.map((r) => batch.ids[r].slice(0, p + c - 1));
  const keyMask = rows.map((r) => batch.keyMask[r].slice(0, p + c - 1));
  const { hidden } = hiddenStates(modelConfig, policy.params, ids, {
    keyMask,
    adapter: policy.adapter,
    gradientCheckpointing,
  });
  const h = hidden.shape[2];
  const completion = reshape(slice(hidden, [0, p - 1, 0], [rows.length, c, h]), [
    rows.length * c,
    h,
  ]);
  const targets = Int32Array.from(rows.flatMap((r) => batch.targets[r]));
  const { logp, entropy } = headTokenLogProbs(
    completion,
    headBlocks(policy.params),
    targets,
    temperature,
  );
  return { logp: reshape(logp, [rows.length, c]), entropy: reshape(entropy, [rows.length, c]) };
};
