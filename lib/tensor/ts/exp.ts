/**
 * eˣ for kernels whose results are stored as float32 (SiLU, sigmoid, softmax): about twice as
 * fast as Math.exp in V8 (which calls out to C++ for every value), and within one float32 ulp of
 * it. The same basic float64 arithmetic on every runtime, so Deno, Bun and Node agree bit for bit.
 *
 * Method: x = k·ln2 + r with k an integer and |r| ≤ ln2/2 (Cody-Waite split of ln2), eʳ by its
 * degree-7 Taylor polynomial (relative error < 6e-9, a tenth of a float32 ulp), times 2ᵏ from a
 * table. Outside the range where that holds, Math.exp (0 below its underflow, where V8 is slow).
 */

const LOG2E = Math.LOG2E;
/** ln 2 split so that k · LN2_HIGH is exact for the k used here. */
const LN2_HIGH = 0.693145751953125;
const LN2_LOW = 1.4286068202862268e-6;
/** Adding and subtracting 1.5 · 2⁵² rounds a float64 of magnitude < 2⁵¹ to an integer. */
const ROUND = 6755399441055744;
/** 2ᵏ for k in [-127, 128], at k + 127. */
const POW2 = Float64Array.from({ length: 256 }, (_, i) => 2 ** (i - 127));
/** Below this Math.exp is exactly 0 in float64. */
const ZERO_BELOW = -745.2;

export const expFast = (x: number): number => {
  // NaN fails both tests and goes to Math.exp too.
  if (!(x > -87 && x < 88)) return x < ZERO_BELOW ? 0 : Math.exp(x);
  const k = (x * LOG2E + ROUND) - ROUND;
  const r = x - k * LN2_HIGH - k * LN2_LOW;
  const p = 1 +
    r * (1 + r * (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r / 5040))))));
  // An int32 index: indexing the table with the float64 k took V8 off its fast element path
  // (2.6x slower on Deno).
  return p * POW2[(k | 0) + 127];
};
