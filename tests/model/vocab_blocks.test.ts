/**
 * Vocabulary-sized matrices in row blocks: the block helpers, and whole models whose embedding
 * and LM head are split under a small maxBindingBytes, against the same models unsplit —
 * logits, greedy generation, token log-probs and every full-parameter gradient, and the saved
 * file.
 *
 * Two models: the qwen2-tiny fixture (untied), on a backend that only declares a limit — its MLP
 * matrices are as large as its [64, 32] embedding, so no enforced limit could split the one and
 * admit the others — and a wide-vocabulary random model (tied), under a limit the kernels
 * enforce, which proves no oversize tensor is ever made.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fileURLToPath } from "node:url";
import { readFile } from "node:fs/promises";
import { isTensor, valueAndGrad } from "../../lib/autodiff/grad.ts";
import { mul, sum } from "../../lib/autodiff/ops.ts";
import { tensor, toArray } from "../../lib/autodiff/tensor.ts";
import { readModel } from "../../lib/io/model_weights.ts";
import { encodeSafetensors } from "../../lib/io/safetensors.ts";
import {
  type DecoderParams,
  forward,
  initParams,
  type ModelConfig,
} from "../../lib/model/decoder.ts";
import { paramsFromWeights, weightsFromParams } from "../../lib/model/weights.ts";
import {
  blockLogits,
  blockRows,
  embedLookup,
  routeIds,
  rowsToHost,
  splitRows,
} from "../../lib/nn/vocab_blocks.ts";
import { normal, prngKey } from "../../lib/random/prng.ts";
import { generateFromParams } from "../../lib/sampling/generate.ts";
import { type Backend, loadBackend } from "../../lib/tensor/backends.ts";
import { loadTfjsBackend } from "../../lib/tensor/tfjs/kernels.ts";
import { completionLogProbs } from "../../lib/train/completion_logprobs.ts";
import { packBatch } from "../../lib/train/sequences.ts";
import { treeFlatten } from "../../lib/tree.ts";
import { testBackends } from "../helpers/backends.ts";

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) => {
  assert.is(a.length, b.length, `${what}: length`);
  const scale = Math.max(1, ...Array.from(b, Math.abs));
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= tol * scale, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
};

// ---------------------------------------------------------------------------------------------
// The helpers

test("blockRows: the whole matrix without a limit or when it fits, else balanced blocks", () => {
  assert.is(blockRows(64, 32), 64);
  assert.is(blockRows(64, 32, 8192), 64);
  assert.is(blockRows(64, 32, 3000), 22, "23 rows fit; three blocks of 22, 22, 20");
  assert.is(blockRows(151936, 1536, 128 * 1024 * 1024), 21706, "Qwen2.5-1.5B on WebGPU: 7 blocks");
  assert.throws(() => blockRows(64, 32, 100), /one row of 32 float32 values needs 128 bytes/);
});

test("splitRows, rowsToHost, routeIds, embedLookup and blockLogits on three blocks", async () => {
  const backend = await loadBackend("ts");
  const data = normal(prngKey(1), 10 * 3);
  const blocks = splitRows(backend, data, [10, 3], 4 * 3 * 4);
  assert.equal(blocks.map((b) => b.shape), [[4, 3], [4, 3], [2, 3]]);
  const host = await rowsToHost(blocks);
  assert.equal(host.shape, [10, 3]);
  assert.equal(Array.from(host.data), Array.from(data));
  assert.throws(() => splitRows(backend, data, [10, 4]), /30 values do not fill .*\[10, 4\]/);

  const routing = routeIds([4, 4, 2], [9, 0, 5, 1]);
  assert.equal(routing.blocks.map((b) => Array.from(b.rows)), [[0, 1], [1], [1]]);
  assert.equal(Array.from(routing.order!), [3, 0, 2, 1]);
  assert.is(routeIds([4, 4, 2], [5, 6]).order, null, "one block owns every id");
  assert.throws(() => routeIds([4, 4, 2], [10]), /id 10 outside the 10 rows/);

  const ids = [[9, 0, 5], [1, 1, 8]];
  const whole = tensor(backend, data, [10, 3]);
  const rows = await toArray(embedLookup(blocks, ids));
  close(rows, ids.flat().flatMap((id) => Array.from(data.subarray(id * 3, id * 3 + 3))), 0, "rows");
  const hidden = tensor(backend, normal(prngKey(2), 2 * 3), [2, 3]);
  const logits = blockLogits(hidden, blocks);
  assert.equal(logits.shape, [2, 10]);
  close(await toArray(logits), await toArray(blockLogits(hidden, [whole])), 1e-6, "logits");
});

// ---------------------------------------------------------------------------------------------
// Whole models, blocked against unblocked

interface Case {
  readonly name: string;
  readonly cfg: ModelConfig;
  /** The model's weights on a backend (split by its limit). */
  readonly params: (backend: Backend) => DecoderParams;
  /** The limited backend and the unlimited one, both of the same kind. */
  readonly backends: () => Promise<{ limited: Backend; reference: Backend }>;
  readonly ids: readonly (readonly number[])[];
}

const fixtureDir = fileURLToPath(new URL("../fixtures/qwen2-tiny", import.meta.url));
const fixture = await readModel(fixtureDir);

const fixtureCase = (kind: string): Case => ({
  name: `${kind} qwen2-tiny, a declared 3000-byte limit`,
  cfg: fixture.config,
  params: (backend) => paramsFromWeights(backend, fixture.config, fixture.weights, "fixture"),
  backends: async () => {
    const reference = await loadBackend(kind);
    return { limited: { ...reference, maxBindingBytes: 3000 }, reference };
  },
  ids: [[3, 17, 42, 63, 0], [8, 8, 25, 1, 60]],
});

/** A wide vocabulary on a small model: only the [384, 16] embedding needs splitting. */
const wideConfig: ModelConfig = {
  ...fixture.config,
  vocabSize: 384,
  hiddenSize: 16,
  intermediateSize: 32,
  numHiddenLayers: 1,
  numAttentionHeads: 2,
  numKeyValueHeads: 1,
  headDim: 8,
  tieWordEmbeddings: true,
};
const wideLimit = 8192;

const wideCase = (kind: "tfjs-cpu" | "webgpu"): Case => ({
  name: `${kind} wide tied model, an enforced ${wideLimit}-byte limit`,
  cfg: wideConfig,
  params: (backend) => initParams(backend, wideConfig, prngKey(7), 0.3),
  backends: async () => ({
    limited: await loadTfjsBackend(kind, { maxBindingBytes: wideLimit }),
    reference: await loadTfjsBackend(kind),
  }),
  // [B, T, V] logits of at most wideLimit bytes: 5 positions
  ids: [[3, 170, 383, 129, 0]],
});

/** Every leaf of a params-shaped tree on the host, vocabulary blocks rejoined, by path. */
const hostLeaves = async (tree: DecoderParams): Promise<Map<string, Float32Array>> => {
  const out = new Map<string, Float32Array>();
  out.set("embed", (await rowsToHost(tree.embed)).data);
  if (tree.lmHead) out.set("lmHead", (await rowsToHost(tree.lmHead)).data);
  for (const [path, t] of treeFlatten({ ...tree, embed: null, lmHead: null }, isTensor)) {
    out.set(path, (await toArray(t)) as Float32Array);
  }
  return out;
};

const runCase = (c: Case, { saving }: { readonly saving: boolean }) => {
  test(`${c.name}: at least three blocks; same logits`, async () => {
    const { limited, reference } = await c.backends();
    const params = c.params(limited);
    assert.ok(params.embed.length >= 3, `${params.embed.length} embedding blocks`);
    if (params.lmHead) assert.is(params.lmHead.length, params.embed.length);
    const blocked = forward(c.cfg, params, c.ids).logits;
    const plain = forward(c.cfg, c.params(reference), c.ids).logits;
    assert.equal(blocked.shape, plain.shape);
    close(await toArray(blocked), await toArray(plain), 1e-5, "logits");
  });

  test(`${c.name}: greedy generation gives the same tokens`, async () => {
    const { limited, reference } = await c.backends();
    const run = (backend: Backend) =>
      generateFromParams(c.cfg, c.params(backend), [[5, 9, 2], [11, 4]], {
        temperature: 0,
        maxNewTokens: 4,
        stopTokens: [],
        padToken: 0,
        key: prngKey(0),
      });
    const [blocked, plain] = [await run(limited), await run(reference)];
    assert.equal(blocked.tokens, plain.tokens);
    blocked.logprobs.forEach((row, i) => close(row, plain.logprobs[i], 1e-5, "logprobs"));
  });

  test(`${c.name}: token log-probs, entropies and every full-parameter gradient`, async () => {
    const { limited, reference } = await c.backends();
    const batch = packBatch([[5, 9, 2], [11]], [[7, 3, 1, 4], [2, 2, 6]], 0);
    const probe = normal(prngKey(3), 2 * batch.completionWidth);
    const run = async (backend: Backend) => {
      const w = tensor(backend, probe, [2, batch.completionWidth]);
      const params = c.params(backend);
      const logProbs = (p: DecoderParams) =>
        completionLogProbs(c.cfg, { params: p, adapter: null }, batch, [0, 1]);
      const { grads } = valueAndGrad((p: DecoderParams) => sum(mul(logProbs(p).logp, w)))(params);
      const out = logProbs(params);
      return {
        logp: await toArray(out.logp),
        entropy: await toArray(out.entropy),
        grads: await hostLeaves(grads as DecoderParams),
      };
    };
    const [blocked, plain] = [await run(limited), await run(reference)];
    close(blocked.logp, plain.logp, 1e-5, "logp");
    close(blocked.entropy, plain.entropy, 1e-5, "entropy");
    assert.equal([...blocked.grads.keys()], [...plain.grads.keys()]);
    assert.ok(plain.grads.has("embed"), "the embedding gets a gradient");
    for (const [path, g] of plain.grads) close(blocked.grads.get(path)!, g, 1e-5, `d ${path}`);
  });

  if (!saving) return; // host-side only: once, on the CPU, is enough

  test(`${c.name}: saving writes byte-identical safetensors`, async () => {
    const { limited, reference } = await c.backends();
    const bytes = async (backend: Backend) =>
      encodeSafetensors(await weightsFromParams(c.cfg, c.params(backend)), {
        metadata: { format: "pt" },
      });
    const blocked = await bytes(limited);
    assert.equal(blocked, await bytes(reference));
    if (c.cfg === fixture.config) {
      assert.equal(blocked, new Uint8Array(await readFile(`${fixtureDir}/model.safetensors`)));
    }
  });
};

const cpu = "tfjs-cpu";
runCase(fixtureCase("ts"), { saving: true });
runCase(wideCase(cpu), { saving: true });
if ((await testBackends()).includes("webgpu")) runCase(wideCase("webgpu"), { saving: false });

test(`${cpu}: an op whose output would exceed the limit still fails clearly`, async () => {
  const backend = await loadTfjsBackend(cpu, { maxBindingBytes: wideLimit });
  const params = wideCase(cpu).params(backend);
  assert.ok(params.embed.length >= 3);
  // each block's logits fit; the [2, 8, 384] concatenation (24576 bytes) does not
  const ids = [[1, 2, 3, 4, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14, 15, 16]];
  assert.throws(
    () => forward(wideConfig, params, ids),
    /concat: output \[2, 8, 384\] needs 24576 bytes, over the 8192-byte limit/,
  );
});

test.run();
