/**
 * Explicit, splittable PRNG keys in the style of JAX: every random draw takes a key,
 * and the same key gives the same numbers on every runtime and backend.
 *
 * A key is two uint32 words. Numbers come from a counter-based hash of (key, index),
 * built only from 32-bit integer ops (Math.imul, shifts, xor) so that Deno, Bun and Node
 * agree bit for bit.
 */

export type Key = readonly [number, number];

/** lowbias32 (Chris Wellons): a fast 32-bit integer hash with good avalanche. */
const mix32 = (x: number): number => {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
};

/** The i-th 32-bit word of the stream a key names. */
const word = (key: Key, i: number): number =>
  mix32(key[0] ^ mix32((key[1] + Math.imul(i, 0x9e3779b9)) >>> 0 ^ 0x85ebca6b));

/** JAX's PRNGKey: the root key of a seed (an integer). */
export const prngKey = (seed: number): Key => {
  if (!Number.isInteger(seed)) throw new Error(`prngKey: seed must be an integer, got ${seed}`);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 0x100000000) >>> 0;
  return [mix32(lo ^ 0x3c6ef372), mix32(hi ^ 0xa54ff53a)];
};

/** n independent child keys. */
export const split = (key: Key, n = 2): Key[] =>
  Array.from({ length: n }, (_, i) => [word(key, 2 * i), word(key, 2 * i + 1)] as const);

/** A key derived from `key` and an integer tag (e.g. a step number). */
export const foldIn = (key: Key, data: number): Key => [
  word(key, 0x40000000 + (data >>> 0)),
  word([key[1], key[0]], data >>> 0),
];

/** n raw uint32 words. */
export const randomBits = (key: Key, n: number): Uint32Array => {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = word(key, i);
  return out;
};

/** n floats uniform in [lo, hi), built from the top 24 bits so every value is exact in f32. */
export const uniform = (key: Key, n: number, lo = 0, hi = 1): Float32Array =>
  uniformInto(key, new Float32Array(n), lo, hi);

/** uniform(key, out.length, lo, hi) written into `out`, a buffer the caller reuses. */
export const uniformInto = (key: Key, out: Float32Array, lo = 0, hi = 1): Float32Array => {
  const span = hi - lo;
  for (let i = 0; i < out.length; i++) out[i] = lo + span * ((word(key, i) >>> 8) / 16777216);
  return out;
};

/** n standard normal floats (Box-Muller on pairs of uniforms). */
export const normal = (key: Key, n: number, mean = 0, std = 1): Float32Array => {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = ((word(key, i) >>> 8) + 1) / 16777217; // (0, 1]: log stays finite
    const u2 = (word(key, i + 1) >>> 8) / 16777216;
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = mean + std * r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = mean + std * r * Math.sin(2 * Math.PI * u2);
  }
  return out;
};

/** A uniform integer in [0, n). */
export const randint = (key: Key, n: number): number => Math.floor(uniform(key, 1)[0] * n);

/**
 * One draw from each row of unnormalized log-probabilities `logits` ([rows, n], row-major),
 * by inverse CDF on a uniform. Rows of -Infinity only are an error.
 */
export const categorical = (key: Key, logits: Float32Array, n: number): Int32Array => {
  const rows = logits.length / n;
  const u = uniform(key, rows);
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let j = 0; j < n; j++) max = Math.max(max, logits[r * n + j]);
    if (max === -Infinity || Number.isNaN(max)) {
      throw new Error(`categorical: row ${r} has no finite logit`);
    }
    let total = 0;
    for (let j = 0; j < n; j++) total += Math.exp(logits[r * n + j] - max);
    let target = u[r] * total;
    let pick = -1;
    for (let j = 0; j < n; j++) {
      const p = Math.exp(logits[r * n + j] - max);
      if (p > 0) pick = j; // last positive-probability index guards against rounding
      target -= p;
      if (target < 0 && p > 0) break;
    }
    out[r] = pick;
  }
  return out;
};

/** A uniformly random permutation of 0..n-1 (Fisher-Yates driven by one key). */
export const permutation = (key: Key, n: number): number[] => {
  const perm = Array.from({ length: n }, (_, i) => i);
  const u = uniform(key, n);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u[i] * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  return perm;
};
