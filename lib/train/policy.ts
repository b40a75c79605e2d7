/**
 * What is trained: LoRA adapters on a frozen base (Tina), or every base weight (the
 * comparison run). Either way the reference policy is the untouched base with no adapter.
 */
import type { AppliedLora, DecoderParams, LoraWeights } from "../model/decoder.ts";
import type { Key } from "../random/prng.ts";

/** The weights and the adapter (if any) one forward runs with. */
export interface Policy {
  /** The weights of the forward (the frozen base, or the trained copy in full mode). */
  readonly params: DecoderParams;
  /** LoRA applied on top, or none (the reference policy). */
  readonly adapter: AppliedLora | null;
}

/** What the optimizer trains: LoRA weights with their scaling and dropout, or all parameters. */
export type Trainable =
  | {
    readonly kind: "lora";
    readonly weights: LoraWeights;
    readonly scaling: number;
    readonly dropout: number;
  }
  | { readonly kind: "full"; readonly params: DecoderParams };

/** The tree the optimizer updates. */
export const trainableTree = (t: Trainable): LoraWeights | DecoderParams =>
  t.kind === "lora" ? t.weights : t.params;

/** The same trainable with the optimizer's new tree in place of the old. */
export const withTree = (t: Trainable, tree: unknown): Trainable =>
  t.kind === "lora"
    ? { ...t, weights: tree as LoraWeights }
    : { kind: "full", params: tree as DecoderParams };

/** The weights and adapter a forward of the current policy uses; dropout only when a key is given. */
export const policyOf = (
  base: DecoderParams,
  t: Trainable,
  tree: unknown = trainableTree(t),
  dropoutKey: Key | null = null,
): Policy =>
  t.kind === "full" ? { params: tree as DecoderParams, adapter: null } : {
    params: base,
    adapter: {
      weights: tree as LoraWeights,
      scaling: t.scaling,
      dropout: dropoutKey && t.dropout > 0 ? { rate: t.dropout, key: dropoutKey } : null,
    },
  };
