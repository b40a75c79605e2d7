/**
 * Logits processors over one row of host logits (the vocabulary for one sequence). Each
 * returns a new row; masked-out tokens become -Infinity.
 */

export interface SamplingParams {
  /** 0 means greedy (argmax). */
  readonly temperature: number;
  /** Keep only the k most likely tokens. */
  readonly topK?: number | null;
  /** Keep the smallest set of tokens whose probability reaches p (nucleus). */
  readonly topP?: number | null;
  /** Drop tokens less likely than minP times the most likely one. */
  readonly minP?: number | null;
  /** Hugging Face's: divide positive logits of already-seen tokens by it, multiply negative ones. */
  readonly repetitionPenalty?: number | null;
}

/** Throws, naming the field, unless every setting is in range. */
export const checkSamplingParams = (p: SamplingParams): void => {
  const bad = (field: string, v: unknown, want: string) => {
    throw new Error(`sampling: ${field} must be ${want}, got ${v}`);
  };
  if (!(p.temperature >= 0) || !Number.isFinite(p.temperature)) {
    bad("temperature", p.temperature, ">= 0");
  }
  if (p.topK != null && !(Number.isInteger(p.topK) && p.topK >= 1)) {
    bad("topK", p.topK, "an integer >= 1");
  }
  if (p.topP != null && !(p.topP > 0 && p.topP <= 1)) bad("topP", p.topP, "in (0, 1]");
  if (p.minP != null && !(p.minP >= 0 && p.minP <= 1)) bad("minP", p.minP, "in [0, 1]");
  if (p.repetitionPenalty != null && !(p.repetitionPenalty > 0)) {
    bad("repetitionPenalty", p.repetitionPenalty, "> 0");
  }
};

/** Hugging Face's repetition penalty on one row of logits, for the ids already seen. */
export const applyRepetitionPenalty = (
  row: Float32Array,
  seen: Iterable<number>,
  penalty: number,
): Float32Array => {
  const out = row.slice();
  for (const id of new Set(seen)) out[id] = out[id] > 0 ? out[id] / penalty : out[id] * penalty;
  return out;
};

/** Logits divided by the temperature. */
export const applyTemperature = (row: Float32Array, temperature: number): Float32Array =>
  row.map((x) => x / temperature);

/**
 * The k-th largest of `values` (1-based), in expected linear time: quickselect on a copy, so a
 * 150k vocabulary is not sorted to keep its head.
 */
export const kthLargest = (values: ArrayLike<number>, k: number): number => {
  const a = Float64Array.from(values);
  const target = k - 1; // index in descending order
  let [lo, hi] = [0, a.length - 1];
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1];
    let [i, j] = [lo, hi];
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        [a[i], a[j]] = [a[j], a[i]];
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target];
  }
  return a[target];
};

/** Keeps the k largest logits (ties at the boundary are kept). */
export const applyTopK = (row: Float32Array, k: number): Float32Array => {
  if (k >= row.length) return row.slice();
  const threshold = kthLargest(row, k);
  return row.map((x) => (x >= threshold ? x : -Infinity));
};

const softmaxOf = (row: Float32Array): Float64Array => {
  let max = -Infinity;
  for (const x of row) max = Math.max(max, x);
  const p = Float64Array.from(row, (x) => Math.exp(x - max));
  const total = p.reduce((s, x) => s + x, 0);
  return p.map((x) => x / total);
};

/** Most likely tokens first, ties in vocabulary order: the order nucleus sampling adds them in. */
const byProbability = (probs: Float64Array, ids: number[]): number[] =>
  ids.sort((a, b) => probs[b] - probs[a]);

/**
 * The most likely tokens, in order, whose probabilities first sum to at least p; null when the
 * candidates (every token with probability >= the c-th largest) end before that. Those
 * candidates are exactly the head of the whole vocabulary's order, so the sums are the same.
 */
const nucleusAmong = (probs: Float64Array, p: number, c: number): number[] | null => {
  const all = c >= probs.length;
  const threshold = all ? -Infinity : kthLargest(probs, c);
  const candidates: number[] = [];
  for (let i = 0; i < probs.length; i++) if (probs[i] >= threshold) candidates.push(i);
  let cumulative = 0;
  const kept: number[] = [];
  for (const i of byProbability(probs, candidates)) {
    kept.push(i);
    cumulative += probs[i];
    if (cumulative >= p) return kept;
  }
  return all ? kept : null;
};

/** Candidates tried first for the nucleus; 8x more each time they do not reach p. */
const NUCLEUS_CANDIDATES = 1024;

/**
 * Nucleus: the smallest set of most likely tokens whose probabilities sum to at least p. Only
 * the head of the distribution is sorted (a 150k vocabulary is sorted whole only when the
 * nucleus is that wide).
 */
export const applyTopP = (row: Float32Array, p: number): Float32Array => {
  if (p >= 1) return row.slice();
  const probs = softmaxOf(row);
  let kept: number[] | null = null;
  for (let c = NUCLEUS_CANDIDATES; kept === null; c *= 8) kept = nucleusAmong(probs, p, c);
  const keep = new Uint8Array(row.length);
  for (const i of kept) keep[i] = 1;
  return row.map((x, i) => (keep[i] ? x : -Infinity));
};

/** Keeps tokens whose probability is at least minP times the most likely token's. */
export const applyMinP = (row: Float32Array, minP: number): Float32Array => {
  const probs = softmaxOf(row);
  let most = 0;
  for (const x of probs) most = Math.max(most, x); // not Math.max(...probs): 150k arguments throw
  const cutoff = minP * most;
  return row.map((x, i) => (probs[i] >= cutoff ? x : -Infinity));
};

/** The processed row that sampling draws from (temperature > 0). */
export const processLogits = (
  row: Float32Array,
  p: SamplingParams,
  seen: readonly number[],
): Float32Array => {
  let out = p.repetitionPenalty && p.repetitionPenalty !== 1
    ? applyRepetitionPenalty(row, seen, p.repetitionPenalty)
    : row;
  if (p.temperature > 0) out = applyTemperature(out, p.temperature);
  if (p.topK) out = applyTopK(out, p.topK);
  if (p.topP != null && p.topP < 1) out = applyTopP(out, p.topP);
  if (p.minP) out = applyMinP(out, p.minP);
  return out;
};

/** log softmax(row)[id], computed in float64. */
export const logProbOf = (row: Float32Array, id: number): number => {
  let max = -Infinity;
  for (const x of row) max = Math.max(max, x);
  let total = 0;
  for (const x of row) total += Math.exp(x - max);
  return row[id] - max - Math.log(total);
};

/** The index of the largest value (greedy decoding). */
export const argmax = (row: Float32Array): number => {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
};
