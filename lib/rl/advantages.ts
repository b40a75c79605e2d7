/**
 * Rewards to advantages, as TRL's GRPOTrainer computes them (host-side, float64: rewards are
 * a handful of numbers). Completions of one prompt are adjacent: group g is the slice
 * [g·G, (g+1)·G).
 */

/** How advantages are scaled, for codecs and checks alike. */
export const SCALE_REWARDS = ["group", "batch", "none"] as const;
/** How advantages are scaled: by each group's std, the batch's, or not at all. */
export type ScaleRewards = (typeof SCALE_REWARDS)[number];

/** Added to the std before dividing, so that a group with equal rewards gets advantage 0. */
const STD_EPS = 1e-4;

const mean = (xs: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
};

/** Bessel-corrected (N − 1) standard deviation, as torch.std; 0 for a single value. */
const std = (xs: ArrayLike<number>): number => {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  let ss = 0;
  for (let i = 0; i < xs.length; i++) ss += (xs[i] - m) ** 2;
  return Math.sqrt(ss / (xs.length - 1));
};

/** The advantages and the reward statistics TRL logs. */
export interface AdvantageResult {
  /** One per completion: reward minus its group's mean, scaled. */
  readonly advantages: Float32Array;
  /** TRL's logged values: mean reward, mean of the std used, share of groups with std 0. */
  readonly metrics: {
    readonly reward: number;
    readonly reward_std: number;
    readonly frac_reward_zero_std: number;
  };
}

/**
 * A = (R − group mean) / (std + 1e-4), with std the group's ("group"), the whole batch's
 * ("batch"), or no division at all ("none", Dr. GRPO). The logged std is the group std for
 * "group" and "none", the batch std for "batch", as in TRL.
 */
export const computeAdvantages = (
  rewards: ArrayLike<number>,
  groupSize: number,
  scale: ScaleRewards,
): AdvantageResult => {
  const n = rewards.length;
  if (!Number.isInteger(groupSize) || groupSize < 1 || n % groupSize !== 0) {
    throw new Error(`computeAdvantages: ${n} rewards do not split into groups of ${groupSize}`);
  }
  const groupOf = (i: number) => Math.floor(i / groupSize);
  const all = Array.from(rewards);
  const groups = Array.from(
    { length: n / groupSize },
    (_, g) => all.slice(g * groupSize, (g + 1) * groupSize),
  );
  const groupMeans = groups.map(mean);
  const batchStd = std(all);
  const groupStds = groups.map(std);
  const stdOf = (i: number) => (scale === "batch" ? batchStd : groupStds[groupOf(i)]);
  const advantages = Float32Array.from({ length: n }, (_, i) => {
    const centered = rewards[i] - groupMeans[groupOf(i)];
    return scale === "none" ? centered : centered / (stdOf(i) + STD_EPS);
  });
  const stds = Array.from({ length: n }, (_, i) => stdOf(i));
  return {
    advantages,
    metrics: {
      reward: mean(groupMeans),
      reward_std: mean(stds),
      // torch.isclose(std, 0) with its default atol 1e-8
      frac_reward_zero_std: stds.filter((s) => Math.abs(s) <= 1e-8).length / n,
    },
  };
};
