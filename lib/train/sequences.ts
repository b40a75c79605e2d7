/**
 * Packing prompts and completions into one left-padded, right-padded batch for the policy
 * forward, with the mask that says which positions are real tokens.
 */

export interface PackedBatch {
  /** [B][P + C]: prompt left-padded to P, completion right-padded to C. */
  readonly ids: number[][];
  /** [B][P + C]: 1 for real tokens (prompt or completion), 0 for padding. */
  readonly keyMask: number[][];
  /** [B][C]: the completion tokens (padding where a completion is shorter). */
  readonly targets: number[][];
  /** P: the longest prompt (shorter ones are left-padded). */
  readonly promptWidth: number;
  /** C: the longest completion (shorter ones are right-padded). */
  readonly completionWidth: number;
}

/**
 * Prompts and completions as one [B, P + C] id matrix for a forward, with the completion targets.
 */
export const packBatch = (
  prompts: readonly (readonly number[])[],
  completions: readonly (readonly number[])[],
  padToken: number,
): PackedBatch => {
  const promptWidth = Math.max(...prompts.map((p) => p.length));
  const completionWidth = Math.max(1, ...completions.map((c) => c.length));
  const pad = (n: number) => new Array<number>(n).fill(padToken);
  const zeros = (n: number) => new Array<number>(n).fill(0);
  const ones = (n: number) => new Array<number>(n).fill(1);
  const ids = prompts.map((p, i) => [
    ...pad(promptWidth - p.length),
    ...p,
    ...completions[i],
    ...pad(completionWidth - completions[i].length),
  ]);
  const keyMask = prompts.map((p, i) => [
    ...zeros(promptWidth - p.length),
    ...ones(p.length + completions[i].length),
    ...zeros(completionWidth - completions[i].length),
  ]);
  const targets = completions.map((c) => [...c, ...pad(completionWidth - c.length)]);
  return { ids, keyMask, targets, promptWidth, completionWidth };
};
