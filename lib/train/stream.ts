/**
 * The training data as an endless stream: epoch e visits every example once in the order of
 * permutation(foldIn(key, e)). A cursor (examples consumed) is all a checkpoint needs to
 * resume the stream exactly.
 */
import { foldIn, type Key, permutation } from "../random/prng.ts";

/**
 * The data as an endless stream, reshuffled each epoch by `key`: (cursor, n) gives the n examples
 * after position cursor (pure, so a resumed run continues exactly).
 */
export const shuffledStream = <T>(
  data: readonly T[],
  key: Key,
): (cursor: number, n: number) => T[] => {
  if (data.length === 0) throw new Error("training data is empty");
  const orders = new Map<number, number[]>();
  const orderOf = (epoch: number): number[] => {
    if (!orders.has(epoch)) orders.set(epoch, permutation(foldIn(key, epoch), data.length));
    return orders.get(epoch)!;
  };
  /** The n examples after the first `cursor`. */
  return (cursor: number, n: number): T[] =>
    Array.from({ length: n }, (_, i) => {
      const c = cursor + i;
      return data[orderOf(Math.floor(c / data.length))[c % data.length]];
    });
};
