/**
 * Nothing in the decoder is hard-wired to a fixture's sizes: a third configuration of each family
 * (shapes no fixture has: q_proj wider than hidden, 3 or 5 query heads per KV head, every bias
 * switched on, other Llama 3 scaling) built from random weights must save to exactly the tensors
 * its config implies, decode with the KV cache as the full forward does, and give LoRA gradients
 * that agree with finite differences.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { isLeft } from "fp-ts/lib/Either.js";
import { isTensor, valueAndGrad } from "../../lib/autodiff/grad.ts";
import { mul, sum } from "../../lib/autodiff/ops.ts";
import { type Tensor, tensor, toArray, toArraySync } from "../../lib/autodiff/tensor.ts";
import { decodeModelConfig, type ModelConfig } from "../../lib/io/hf_config.ts";
import { expectedWeightShapes } from "../../lib/io/weight_layout.ts";
import {
  type AppliedLora,
  type DecoderParams,
  forward,
  initLora,
  initParams,
  type LoraWeights,
} from "../../lib/model/decoder.ts";
import { paramsFromWeights, weightsFromParams } from "../../lib/model/weights.ts";
import { PROJS } from "../../lib/io/weight_layout.ts";
import type { Backend } from "../../lib/tensor/backends.ts";
import { loadBackend } from "../../lib/tensor/backends.ts";
import { foldIn, type Key, normal, prngKey, uniform } from "../../lib/random/prng.ts";
import { treeMap } from "../../lib/tree.ts";
import { testBackends } from "../helpers/backends.ts";

const common = { hidden_act: "silu", rms_norm_eps: 1e-6, max_position_embeddings: 64 };

/** config.json contents of shapes no fixture has. */
const CONFIGS: Record<string, Record<string, unknown>> = {
  "qwen3 (q_proj 60 wide over hidden 24, 3 queries per KV head, biases on)": {
    ...common,
    architectures: ["Qwen3ForCausalLM"],
    vocab_size: 40,
    hidden_size: 24,
    intermediate_size: 40,
    num_hidden_layers: 3,
    num_attention_heads: 6,
    num_key_value_heads: 2,
    head_dim: 10,
    attention_bias: true,
    rope_theta: 1e4,
    tie_word_embeddings: false,
  },
  "llama 3 (5 queries per KV head, attention and MLP biases, other scaling)": {
    ...common,
    architectures: ["LlamaForCausalLM"],
    vocab_size: 50,
    hidden_size: 20,
    intermediate_size: 36,
    num_hidden_layers: 2,
    num_attention_heads: 5,
    num_key_value_heads: 1,
    attention_bias: true,
    mlp_bias: true,
    rope_theta: 500,
    rope_scaling: {
      rope_type: "llama3",
      factor: 4,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 16,
    },
    tie_word_embeddings: true,
  },
  "smollm2-like llama (plain RoPE, untied)": {
    ...common,
    architectures: ["LlamaForCausalLM"],
    vocab_size: 30,
    hidden_size: 16,
    intermediate_size: 24,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    num_key_value_heads: 2,
    rope_theta: 1e5,
    tie_word_embeddings: false,
  },
};

const decode = (label: string): ModelConfig => {
  const decoded = decodeModelConfig(CONFIGS[label], label);
  if (isLeft(decoded)) throw new Error(decoded.left);
  return decoded.right;
};

const isNormPath = (path: string): boolean => /(^norm|Norm)$/.test(path.split(".").at(-1)!);

/** Every leaf random (norm weights around 1), so that no bias or norm weight is a no-op. */
const randomParams = (backend: Backend, cfg: ModelConfig, key: Key): DecoderParams => {
  let n = 0;
  return treeMap(
    initParams(backend, cfg, key),
    isTensor,
    (leaf, path) =>
      tensor(
        backend,
        normal(foldIn(key, 1000 + n++), leaf.size, isNormPath(path) ? 1 : 0, 0.15),
        leaf.shape,
      ),
  ) as DecoderParams;
};

/** A LoRA adapter on all seven projections with B non-zero (PEFT's init has B = 0). */
const randomAdapter = (backend: Backend, cfg: ModelConfig, key: Key): AppliedLora => {
  const init = initLora(backend, cfg, key, 2);
  let n = 0;
  const weights = treeMap(
    init,
    isTensor,
    (leaf) => tensor(backend, normal(foldIn(key, 500 + n++), leaf.size, 0, 0.3), leaf.shape),
  ) as LoraWeights;
  return { weights, scaling: 1.5 };
};

const randomIds = (key: Key, rows: number, length: number, vocab: number): number[][] => {
  const u = uniform(key, rows * length);
  return Array.from(
    { length: rows },
    (_, i) => Array.from({ length }, (_, j) => Math.floor(u[i * length + j] * vocab)),
  );
};

const maxAbs = (a: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
};
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  assert.is(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** Logits [B, T, V] on the host as rows of positions: [b][t] → V floats. */
const positionsOf = async (logits: Tensor): Promise<Float32Array[][]> => {
  const [b, t, v] = logits.shape;
  const data = (await toArray(logits)) as Float32Array;
  return Array.from(
    { length: b },
    (_, i) => Array.from({ length: t }, (_, j) => data.slice((i * t + j) * v, (i * t + j + 1) * v)),
  );
};

const root = prngKey(1111);

for (const backendName of await testBackends()) {
  const backend = await loadBackend(backendName);
  for (const [c, label] of Object.keys(CONFIGS).entries()) {
    const cfg = decode(label);
    const key = foldIn(root, c);
    const ids = randomIds(foldIn(key, 1), 2, 7, cfg.vocabSize);

    test(`${backendName} ${label}: saves exactly the tensors its config implies, reloads the same`, async () => {
      const params = randomParams(backend, cfg, key);
      const weights = await weightsFromParams(cfg, params);
      const expected = expectedWeightShapes(cfg);
      assert.equal([...weights.keys()].sort(), [...expected.keys()].sort());
      for (const [name, w] of weights) assert.equal(w.shape, expected.get(name), name);
      const again = paramsFromWeights(backend, cfg, weights, label);
      const a = await toArray(forward(cfg, params, ids).logits);
      const b = await toArray(forward(cfg, again, ids).logits);
      assert.is(maxAbsDiff(a, b), 0);
    });

    test(`${backendName} ${label}: KV-cache decoding, one token at a time, matches the full forward`, async () => {
      const params = randomParams(backend, cfg, key);
      const adapter = randomAdapter(backend, cfg, foldIn(key, 2));
      const full = await positionsOf(forward(cfg, params, ids, { adapter }).logits);
      const prefix = 3;
      let step = forward(cfg, params, ids.map((row) => row.slice(0, prefix)), { adapter });
      const got = await positionsOf(step.logits);
      for (let t = prefix; t < ids[0].length; t++) {
        step = forward(cfg, params, ids.map((row) => [row[t]]), { adapter, cache: step.cache });
        (await positionsOf(step.logits)).forEach((row, i) => got[i].push(row[0]));
      }
      const scale = Math.max(1, ...full.flat().map(maxAbs));
      full.forEach((row, i) =>
        row.forEach((expected, t) => {
          assert.ok(maxAbsDiff(got[i][t], expected) < 1e-4 * scale, `row ${i} position ${t}`);
        })
      );
    });
  }
}

// Finite differences on the pure-TS backend (the gradient rules are the same on every backend;
// the golden tests compare every backend's LoRA gradients with PyTorch's).
const EPS = 1e-3;
for (const [c, label] of Object.keys(CONFIGS).entries()) {
  test(`ts ${label}: LoRA gradients agree with central differences`, async () => {
    const backend = await loadBackend("ts");
    const cfg = decode(label);
    const key = foldIn(root, c);
    const ids = randomIds(foldIn(key, 1), 2, 5, cfg.vocabSize);
    const params = randomParams(backend, cfg, key);
    const { weights, scaling } = randomAdapter(backend, cfg, foldIn(key, 2));
    const [b, t, v] = [ids.length, ids[0].length, cfg.vocabSize];
    const w = normal(foldIn(key, 3), b * t * v);
    const wT = tensor(backend, w, [b, t, v]);
    const logitsOf = (lora: LoraWeights) =>
      forward(cfg, params, ids, { adapter: { weights: lora, scaling } }).logits;
    // The loss Σ w ⊙ logits, summed on the host in float64 for the numeric side.
    const hostLoss = (lora: LoraWeights): number => {
      const logits = toArraySync(logitsOf(lora));
      let total = 0;
      for (let i = 0; i < logits.length; i++) total += logits[i] * w[i];
      return total;
    };
    const { grads } = valueAndGrad((lora: LoraWeights) => sum(mul(logitsOf(lora), wT)))(weights);
    // One directional derivative per LoRA tensor, along a random direction d: the numeric side
    // (L(θ + εd) − L(θ − εd)) / 2ε against Σ grad ⊙ d (a sum over the whole tensor, so float32
    // noise in the loss weighs far less than in a single-entry difference).
    let n = 0;
    for (let layer = 0; layer < cfg.numHiddenLayers; layer++) {
      for (const proj of PROJS) {
        for (const m of ["A", "B"] as const) {
          const leaf = weights.layers[layer][proj]![m];
          const data = toArraySync(leaf) as Float32Array;
          const d = normal(foldIn(key, 4000 + n++), data.length);
          const nudged = (step: number): LoraWeights => {
            const moved = tensor(backend, data.map((x, i) => x + step * d[i]), leaf.shape);
            const layers = weights.layers.map((l, i) =>
              i === layer ? { ...l, [proj]: { ...l[proj]!, [m]: moved } } : l
            );
            return { layers };
          };
          const numeric = (hostLoss(nudged(EPS)) - hostLoss(nudged(-EPS))) / (2 * EPS);
          const g = toArraySync(grads.layers[layer][proj]![m]);
          const analytic = d.reduce((acc, di, i) => acc + di * g[i], 0);
          assert.ok(
            Math.abs(numeric - analytic) <= 1e-2 * Math.max(1, Math.abs(numeric)),
            `layer ${layer} ${proj}.${m}: numeric ${numeric}, autodiff ${analytic}`,
          );
        }
      }
    }
  });
}

test.run();
