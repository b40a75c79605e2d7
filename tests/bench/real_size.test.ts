/**
 * bench/real_size_work.ts, the work bench/real-size.ts times beside PyTorch: on the tiny Qwen2
 * fixture it decodes every batch size, the training step really updates LoRA, and tokens/s count
 * exactly the work done (a clock that moves one second per reading).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { fileURLToPath } from "node:url";
import { measureRealSize, type RealSizeWork } from "../../bench/real_size_work.ts";
import { tsBackend } from "../../lib/tensor/backends.ts";

const dir = fileURLToPath(new URL("../fixtures/qwen2-tiny", import.meta.url));
const work: RealSizeWork = {
  batches: [1, 3],
  newTokens: 2,
  sequences: 2,
  prompt: 5,
  completion: 3,
  checkpointing: true,
};
const secondPerReading = () => {
  let ms = 0;
  return () => (ms += 1000);
};

test("decodes every batch size and trains LoRA (a finite loss, a non-zero update)", async () => {
  const result = await measureRealSize(dir, tsBackend, work, () => performance.now());
  assert.equal(Object.keys(result.decodeTokensPerSecond), ["batch1", "batch3"]);
  for (const v of Object.values(result.decodeTokensPerSecond)) assert.ok(v > 0 && isFinite(v));
  assert.ok(Number.isFinite(result.trainStep.loss), `loss ${result.trainStep.loss}`);
  assert.ok(result.trainStep.updateNorm > 0 && isFinite(result.trainStep.updateNorm));
  assert.ok(result.weightBytes > 0 && result.trainStep.peakTensorBytes > result.weightBytes);
});

test("tokens/s count rows × tokens of the work (one second per clock reading)", async () => {
  const result = await measureRealSize(dir, tsBackend, work, secondPerReading());
  assert.is(result.loadSeconds, 1);
  assert.equal(result.decodeTokensPerSecond, { batch1: 1 * 2, batch3: 3 * 2 });
  assert.equal(result.prefillSeconds, { batch1: 1, batch3: 1 });
  assert.is(result.trainStep.tokens, 2 * (5 + 3));
  assert.is(result.trainStep.tokensPerSecond, 2 * (5 + 3));
});

test.run();
