/**
 * Which completion tokens the loss sees: every token up to and including the first EOS (the
 * model must learn to stop), nothing after it (padding). Host-side: ids come back from
 * generation as host arrays anyway.
 */

export interface CompletionMask {
  /** [B, T]: rows and completion positions. */
  readonly shape: readonly [number, number];
  /** Row-major [B, T] 0/1 mask, ready for `tensor(backend, mask, shape)`. */
  readonly mask: Float32Array;
  /** Tokens kept per completion (its length, EOS included). */
  readonly lengths: Int32Array;
  /** Completions that never emitted EOS: cut off by the length limit. */
  readonly truncated: readonly boolean[];
}

/** `ids` are B rows of T token ids; `eos` is the id (or ids) that end a completion. */
export const completionMask = (
  ids: readonly ArrayLike<number>[],
  eos: number | readonly number[],
): CompletionMask => {
  const stops = new Set(typeof eos === "number" ? [eos] : eos);
  const b = ids.length;
  const t = ids[0]?.length ?? 0;
  const ragged = ids.findIndex((row) => row.length !== t);
  if (ragged >= 0) {
    throw new Error(`completionMask: row ${ragged} has ${ids[ragged].length} ids, row 0 has ${t}`);
  }
  const mask = new Float32Array(b * t);
  const lengths = new Int32Array(b);
  const truncated = ids.map((row, i) => {
    let end = 0;
    while (end < t && !stops.has(row[end])) end++;
    lengths[i] = Math.min(end + 1, t);
    mask.fill(1, i * t, i * t + lengths[i]);
    return end === t;
  });
  return { shape: [b, t], mask, lengths, truncated };
};

/** TRL's mask_truncated_completions: completions without EOS drop out of the loss entirely. */
export const maskTruncated = (m: CompletionMask): CompletionMask => {
  const [, t] = m.shape;
  const mask = m.mask.slice();
  m.truncated.forEach((cut, i) => cut && mask.fill(0, i * t, (i + 1) * t));
  return { ...m, mask };
};
