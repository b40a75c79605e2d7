/** Per-token log-probs of the completion part of a packed batch under some policy. */
import { slice } from "../autodiff/ops.ts";
import { tensor } from "../autodiff/tensor.ts";
import type { Adapter, ModelConfig, Qwen2Params } from "../model/qwen2.ts";
import { forward } from "../model/qwen2.ts";
import { type TokenLogProbs, tokenLogProbsAndEntropy } from "../rl/logprobs.ts";
import type { PackedBatch } from "./sequences.ts";

export interface Policy {
  readonly params: Qwen2Params;
  readonly adapter: Adapter | null;
}

/**
 * log p(completion token | everything before it) for the given rows of the batch, [rows, C],
 * with entropies. The forward drops the last position: nothing is predicted from it.
 */
export const completionLogProbs = (
  modelConfig: ModelConfig,
  policy: Policy,
  batch: PackedBatch,
  rows: readonly number[],
  temperature = 1,
): TokenLogProbs => {
  const { promptWidth: p, completionWidth: c } = batch;
  const ids = rows.map((r) => batch.ids[r].slice(0, p + c - 1));
  const keyMask = rows.map((r) => batch.keyMask[r].slice(0, p + c - 1));
  const { logits } = forward(modelConfig, policy.params, ids, { keyMask, adapter: policy.adapter });
  const completionLogits = slice(logits, [0, p - 1, 0], [rows.length, c, logits.shape[2]]);
  const backend = policy.params.embed.backend;
  const targets = tensor(backend, Int32Array.from(rows.flatMap((r) => batch.targets[r])), [
    rows.length,
    c,
  ]);
  return tokenLogProbsAndEntropy(completionLogits, targets, temperature);
};
