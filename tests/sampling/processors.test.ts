// The logits processors keep exactly what their definitions keep — top-k by the k-th largest
// value, top-p by the whole vocabulary's order (most likely first, ties in vocabulary order) —
// checked against full sorts on rows with ties, masked tokens and a peaked or flat distribution;
// and a real vocabulary (151936, Qwen's) goes through every processor without a sort of it or
// a spread of it into arguments.
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  applyMinP,
  applyRepetitionPenalty,
  applyTemperature,
  applyTopK,
  applyTopP,
  kthLargest,
  processLogits,
} from "../../lib/sampling/processors.ts";
import { foldIn, normal, prngKey, uniform } from "../../lib/random/prng.ts";

const key = prngKey(33);

/** Logits with repeated values (ties), a few masked tokens, scaled to be flat or peaked. */
const logitsRow = (n: number, seed: number, scale: number): Float32Array => {
  const row = normal(foldIn(key, seed), n).map((x) => Math.round(x * 4) / 4 * scale);
  uniform(foldIn(key, seed + 1), 3).forEach((u) => (row[Math.floor(u * n)] = -Infinity));
  return row;
};

/** The definitions, with full sorts. */
const topKByFullSort = (row: Float32Array, k: number): Float32Array => {
  const threshold = [...row].sort((a, b) => b - a)[k - 1];
  return row.map((x) => (x >= threshold ? x : -Infinity));
};
const topPByFullSort = (row: Float32Array, p: number): Float32Array => {
  let max = -Infinity;
  for (const x of row) max = Math.max(max, x);
  const e = Float64Array.from(row, (x) => Math.exp(x - max));
  const total = e.reduce((s, x) => s + x, 0);
  const probs = e.map((x) => x / total);
  const order = Array.from(row.keys()).sort((a, b) => probs[b] - probs[a]);
  const keep = new Uint8Array(row.length);
  let cumulative = 0;
  for (const i of order) {
    keep[i] = 1;
    cumulative += probs[i];
    if (cumulative >= p) break;
  }
  return row.map((x, i) => (keep[i] ? x : -Infinity));
};

const sameRow = (got: Float32Array, want: Float32Array, what: string) => {
  const differ = got.findIndex((v, i) => !Object.is(v, want[i]));
  assert.is(differ, -1, `${what}: first difference at ${differ}`);
};

test("kthLargest equals the sorted order's k-th, with ties, at both ends", () => {
  for (const n of [1, 2, 7, 100, 5000]) {
    const values = logitsRow(n, n, 1);
    const sorted = [...values].sort((a, b) => b - a);
    for (const k of new Set([1, 2, Math.ceil(n / 3), n - 1, n].filter((k) => k >= 1))) {
      assert.is(kthLargest(values, k), sorted[k - 1], `n=${n}, k=${k}`);
    }
  }
});

test("top-k keeps what a full sort keeps (ties at the boundary kept)", () => {
  for (const [n, scale] of [[50, 1], [3000, 0.2], [3000, 5]]) {
    const row = logitsRow(n, 7 + n, scale);
    for (const k of [1, 5, 40, n - 1]) {
      sameRow(applyTopK(row, k), topKByFullSort(row, k), `n=${n}, k=${k}`);
    }
  }
});

test("top-p keeps what the whole vocabulary's order keeps: narrow, wide and flat nuclei", () => {
  // flat (scale 0.05): the nucleus of p 0.95 spans most of 20000 tokens, past the first candidates
  for (const [n, scale] of [[40, 1], [20000, 0.05], [20000, 1], [20000, 6]]) {
    const row = logitsRow(n, 11 + n + scale, scale);
    for (const p of [0.01, 0.5, 0.9, 0.95, 0.999999]) {
      sameRow(applyTopP(row, p), topPByFullSort(row, p), `n=${n}, scale=${scale}, p=${p}`);
    }
  }
});

test("a 151936-token row through every processor: the definitions' result, no throw", () => {
  const row = logitsRow(151936, 99, 2);
  const settings = { temperature: 0.7, topK: 50, topP: 0.95, minP: 0.05, repetitionPenalty: 1.1 };
  const seen = [1, 2, 3];
  const want = applyMinP(
    topPByFullSort(
      topKByFullSort(applyTemperature(applyRepetitionPenalty(row, seen, 1.1), 0.7), 50),
      0.95,
    ),
    0.05,
  );
  const got = processLogits(row, settings, seen);
  sameRow(got, want, "processed");
  const kept = got.filter(Number.isFinite).length;
  assert.ok(kept >= 1 && kept < row.length, `kept ${kept}`);
});

test.run();
