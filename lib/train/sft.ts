/**
 * Supervised fine-tuning pieces (used by examples/pretrain.ts to build the tiny base model):
 * prompt + reference completion batches and the masked next-token cross-entropy on the
 * completion tokens only.
 */
import { div, mul, neg, sum } from "../autodiff/ops.ts";
import { type Tensor, tensor } from "../autodiff/tensor.ts";
import type { ModelConfig } from "../model/decoder.ts";
import { completionMask } from "../rl/mask.ts";
import { completionLogProbs } from "./completion_logprobs.ts";
import type { Policy } from "./policy.ts";
import { packBatch, type PackedBatch } from "./sequences.ts";

/** A supervised batch: packed prompt + completion rows and the mask of the tokens trained on. */
export interface SftBatch {
  /** Prompt and completion ids, packed. */
  readonly packed: PackedBatch;
  /** Row-major [B, C] 0/1 mask of the trained completion tokens (EOS included). */
  readonly mask: Float32Array;
}

/** Prompts and completions (already token ids; each completion should end with EOS). */
export const sftBatch = (
  prompts: readonly (readonly number[])[],
  completions: readonly (readonly number[])[],
  padToken: number,
  eosToken: number,
): SftBatch => {
  const packed = packBatch(prompts, completions, padToken);
  return { packed, mask: completionMask(packed.targets, eosToken).mask };
};

/** Mean negative log-likelihood over the masked completion tokens. */
export const sftLoss = (modelConfig: ModelConfig, policy: Policy, batch: SftBatch): Tensor => {
  const rows = batch.packed.ids.map((_, i) => i);
  const { logp } = completionLogProbs(modelConfig, policy, batch.packed, rows);
  const mask = tensor(logp.backend, batch.mask, logp.shape);
  return neg(div(sum(mul(logp, mask)), Math.max(1, batch.mask.reduce((s, x) => s + x, 0))));
};
