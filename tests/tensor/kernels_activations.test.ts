/**
 * The wasm SIMD activation kernels (lib/tensor/wasm/activations.ts) against float64 formulas:
 * SwiGLU and its gradient over the whole float32 range, and softmax at widths that are not a
 * multiple of four, at row counts that span several of the module's chunks, and with trailing
 * masked scores; RMSNorm and the row gradients with NaN left past the rows.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  MAX_ROW_WIDTH,
  rmsNormGradInto,
  rmsNormInto,
  softmaxGradInto,
  softmaxInto,
  swigluGradInto,
  swigluInto,
} from "../../lib/tensor/wasm/activations.ts";
import { foldIn, normal, prngKey, uniform } from "../../lib/random/prng.ts";

const key = prngKey(3122026);
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Within `ulps` float32 ulps of `want`, or `floor` absolutely (NaN and infinities exactly). */
const near = (got: number, want: number, ulps: number, floor = 0): boolean =>
  Object.is(got, want) || Math.abs(got - want) <= Math.max(ulps * 2 ** -23 * Math.abs(want), floor);

test("swiglu is silu(gate) · up within 4 ulps, saturating at both ends", () => {
  // More values than one chunk, and a length that is not a multiple of four.
  const n = 40_003;
  const gate = uniform(foldIn(key, 1), n, -120, 120);
  gate.set([0, -0, 1e-30, -87.5, 88.5, -200, 200, Infinity, NaN]);
  const up = normal(foldIn(key, 2), n);
  const out = new Float32Array(n);
  swigluInto(gate, up, out);
  gate.forEach((x, i) => {
    const want = Math.fround(x * sigmoid(x) * up[i]);
    if (Number.isNaN(x)) return assert.ok(Number.isNaN(out[i]), "NaN stays NaN");
    assert.ok(near(out[i], want, 4, 1e-35), `swiglu(${x}, ${up[i]}): ${out[i]} vs ${want}`);
  });
});

test("swigluGrad gives d gate and d up within a few ulps of the float64 formulas", () => {
  const n = 20_001;
  const gate = uniform(foldIn(key, 3), n, -30, 30);
  const [up, g] = [normal(foldIn(key, 4), n), normal(foldIn(key, 5), n)];
  const [dGate, dUp] = [new Float32Array(n), new Float32Array(n)];
  swigluGradInto(g, gate, up, dGate, dUp);
  gate.forEach((x, i) => {
    const s = sigmoid(x);
    const wantGate = g[i] * up[i] * s * (1 + x * (1 - s));
    // 1 + x(1 − s) cancels near x = −1.28: an absolute floor of a few ulps of g · up.
    const floor = 8 * 2 ** -23 * Math.abs(g[i] * up[i]);
    assert.ok(near(dGate[i], wantGate, 8, floor), `d gate at ${x}: ${dGate[i]} vs ${wantGate}`);
    assert.ok(near(dUp[i], g[i] * x * s, 4, 1e-35), `d up at ${x}`);
  });
});

test("softmax rows of any width sum to 1 and match eˣ⁻ᵐᵃˣ / Σ", () => {
  for (const width of [1, 3, 7, 64, 130]) {
    const rows = Math.ceil((3 * MAX_ROW_WIDTH) / width) + 1; // spans several chunks
    const x = normal(foldIn(key, width), rows * width).map((v) => v * 4);
    x.fill(-1e9, 0, Math.floor(width / 2)); // masked scores in the first row weigh exactly 0
    const out = new Float32Array(x.length);
    softmaxInto(x, width, out);
    for (let r = 0; r < rows; r++) {
      const row = Array.from(x.subarray(r * width, (r + 1) * width));
      const top = Math.max(...row);
      const total = row.reduce((s, v) => s + Math.exp(v - top), 0);
      row.forEach((v, j) => {
        const want = Math.exp(v - top) / total;
        const got = out[r * width + j];
        // A float32 sum of `width` terms, and x − max rounded to float32 (|x − max| ulps).
        const ulps = 2 + Math.sqrt(width) / 2 + Math.abs(v - top);
        assert.ok(near(got, want, ulps), `width ${width}: ${got} vs ${want}`);
      });
    }
    assert.ok(out.subarray(0, Math.floor(width / 2)).every((v) => v === 0), "masked: 0");
  }
});

test("trailing masked scores change no bit of a row's softmax (preallocated KV caches)", () => {
  for (const [width, padded] of [[13, 16], [13, 20], [64, 67], [5, 6]]) {
    const x = normal(foldIn(key, 100 + width), 3 * width).map((v) => v * 3);
    const wide = new Float32Array(3 * padded).fill(-1e9);
    for (let r = 0; r < 3; r++) wide.set(x.subarray(r * width, (r + 1) * width), r * padded);
    const [out, outWide] = [new Float32Array(x.length), new Float32Array(wide.length)];
    softmaxInto(x, width, out);
    softmaxInto(wide, padded, outWide);
    for (let r = 0; r < 3; r++) {
      for (let j = 0; j < width; j++) {
        assert.ok(Object.is(out[r * width + j], outWide[r * padded + j]), `${width} → ${padded}`);
      }
    }
  }
});

test("rmsNorm, its gradient and softmax's gradient per row, NaN past the rows left unread", () => {
  for (const width of [5, 13, 128]) {
    // Leave NaN in every region of the module's memory: values past a row must not leak in.
    const nan = new Float32Array(1 << 16).fill(NaN);
    swigluInto(nan, nan, new Float32Array(nan.length));
    const rows = 7;
    const [x, g] = [
      normal(foldIn(key, 200 + width), rows * width),
      normal(foldIn(key, 300), rows * width),
    ];
    const w = uniform(foldIn(key, 400), width, 0.5, 1.5);
    const [normed, dx] = [new Float32Array(x.length), new Float32Array(x.length)];
    rmsNormInto(x, w, 1e-6, normed);
    rmsNormGradInto(g, x, w, 1e-6, dx);
    const y = new Float32Array(x.length);
    softmaxInto(x, width, y);
    const dy = new Float32Array(x.length);
    softmaxGradInto(y, g, width, dy);
    for (let r = 0; r < rows; r++) {
      const at = r * width;
      const row = (a: Float32Array) => Array.from(a.subarray(at, at + width));
      const [xr, gr, yr] = [row(x), row(g), row(y)];
      const inv = 1 / Math.sqrt(xr.reduce((s, v) => s + v * v, 0) / width + 1e-6);
      const dot = xr.reduce((s, v, j) => s + w[j] * gr[j] * v, 0);
      const gy = gr.reduce((s, v, j) => s + v * yr[j], 0);
      xr.forEach((v, j) => {
        const scale = 1e-5 * (1 + Math.abs(v));
        assert.ok(Math.abs(normed[at + j] - v * inv * w[j]) < scale, `rmsNorm, width ${width}`);
        const want = inv * w[j] * gr[j] - (v * inv ** 3 * dot) / width;
        assert.ok(Math.abs(dx[at + j] - want) < 1e-5 * (1 + Math.abs(want)), `d x, ${width}`);
        const soft = yr[j] * (gr[j] - gy);
        assert.ok(Math.abs(dy[at + j] - soft) < 1e-6, `softmaxGrad, width ${width}`);
      });
    }
  }
});

test.run();
