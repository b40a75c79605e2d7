/**
 * The values each registered reward can take, so a ±1 std band is drawn only where the
 * reward can be (an accuracy band stops at 0, not at −0.5). Bounds follow lib/rewards; the
 * total reward's range is the weighted sum of its parts'.
 */

export type Range = readonly [lo: number, hi: number];

interface RewardRangeSpec {
  readonly name: string;
  readonly weight: number;
  readonly options?: Readonly<Record<string, number>>;
}

const UNIT: Range = [0, 1];

const rangeOf = (name: string, options: Readonly<Record<string, number>> = {}): Range | null => {
  switch (name) {
    case "accuracy":
    case "format":
    case "tina_format":
    case "tag_count":
    case "tina_tag_count":
    case "reasoning_steps":
      return UNIT;
    case "length": // Kimi 1.5: lambda in [-0.5, 0.5]
      return [-0.5, 0.5];
    case "cosine": {
      const values = [
        options.minValueWrong ?? 0,
        options.maxValueWrong ?? -0.5,
        options.minValueCorrect ?? 0.5,
        options.maxValueCorrect ?? 1,
      ];
      return [Math.min(...values), Math.max(...values)];
    }
    case "repetition":
      return [options.maxPenalty ?? -1, 0];
    case "soft_overlong":
      return [-1, 0];
    default:
      return null;
  }
};

/** Ranges by metric key: "rewards/<name>/mean" for each reward and "reward" for their sum. */
export const rewardRanges = (
  rewards: readonly RewardRangeSpec[],
): Readonly<Record<string, Range>> => {
  const parts = rewards.map((r) => ({ r, range: rangeOf(r.name, r.options) }));
  const known = parts.filter((p): p is { r: RewardRangeSpec; range: Range } => p.range !== null);
  const total: Range = known.reduce<Range>(
    ([lo, hi], { r, range: [a, b] }) => [
      lo + Math.min(r.weight * a, r.weight * b),
      hi + Math.max(r.weight * a, r.weight * b),
    ],
    [0, 0],
  );
  return Object.fromEntries([
    ...known.map(({ r, range }) => [`rewards/${r.name}/mean`, range]),
    ...(known.length === parts.length && parts.length > 0 ? [["reward", total]] : []),
  ]);
};
