/**
 * Greedy decoding throughput (new tokens/s) with the KV cache (lib/sampling/generate), against
 * a baseline without it that reruns the forward over the whole growing sequence for each new
 * token, at each batch size of bench/shape.json; and the cache's speed-up. On backends that read
 * back asynchronously (WebGPU), where tokens are drawn on the device, also against drawing them
 * on the host. Slow backends decode a third of the tokens and skip the no-cache baseline above
 * batch 1 (minutes of recomputation).
 */
import { slice } from "../lib/autodiff/ops.ts";
import { scope, toArray } from "../lib/autodiff/tensor.ts";
import { type DecoderParams, headBlocks, hiddenStates } from "../lib/model/decoder.ts";
import { blockLogits } from "../lib/nn/vocab_blocks.ts";
import { generateFromParams } from "../lib/sampling/generate.ts";
import { argmax } from "../lib/sampling/processors.ts";
import { budgetFor, isSlow, timeTask, type Timing } from "./measure.ts";
import { profileOnce } from "./profile.ts";
import { type Measurement, RATIO_UNIT, type Suite } from "./suite.ts";
import {
  benchKey,
  benchParams,
  disposeAll,
  modelConfig,
  modelLabel,
  randomIds,
  shape,
} from "./workload.ts";

const { promptLength } = shape.decode;

/** Greedy KV-cache decoding; `onDevice` as in GenerateOptions (default: the backend's choice). */
const withCache = (
  params: DecoderParams,
  prompts: number[][],
  newTokens: number,
  onDevice?: boolean,
) =>
  generateFromParams(modelConfig, params, prompts, {
    temperature: 0,
    maxNewTokens: newTokens,
    stopTokens: [],
    padToken: 0,
    key: benchKey(2),
    onDevice,
  });

/**
 * The same greedy loop, but every step recomputes keys and values of all earlier positions (the
 * LM head still only on the last one, as generate does, so no [B, T, V] logits at real sizes).
 */
const withoutCache = async (
  params: DecoderParams,
  prompts: number[][],
  newTokens: number,
): Promise<number[][]> => {
  let ids = prompts;
  for (let n = 0; n < newTokens; n++) {
    const last = scope(() => {
      const { hidden } = hiddenStates(modelConfig, params, ids);
      const [b, t, h] = hidden.shape;
      return blockLogits(slice(hidden, [0, t - 1, 0], [b, 1, h]), headBlocks(params));
    });
    const rows = (await toArray(last)) as Float32Array;
    last.dispose();
    const v = modelConfig.vocabSize;
    ids = ids.map((row, i) => [...row, argmax(rows.subarray(i * v, (i + 1) * v))]);
  }
  return ids;
};

export const decodeSuite: Suite = {
  name: "decode",
  description:
    "greedy decode tokens/s with and without the KV cache (and, on WebGPU, with host-side sampling)",
  run: async (backend, options) => {
    const params = benchParams(backend);
    const slow = await isSlow(backend);
    const newTokens = slow ? Math.ceil(shape.decode.newTokens / 3) : shape.decode.newTokens;
    const out: Measurement[] = [];
    for (const batch of shape.decode.batches) {
      const prompts = randomIds(benchKey(1), batch, promptLength);
      const label = `${modelLabel}, batch ${batch}, ${promptLength} + ${newTokens} tokens`;
      const tokens = batch * newTokens;
      const rate = (kind: string, { seconds, runs }: Timing): Measurement => ({
        shape: `${label}, ${kind}`,
        figure: tokens / seconds,
        unit: "tokens/s",
        samples: runs,
        higherIsBetter: true,
      });
      const budget = budgetFor(slow, 2000);
      const cached = await timeTask(
        `decode cached b${batch}`,
        () => withCache(params, prompts, newTokens),
        budget,
      );
      out.push(rate("KV cache", cached));
      // Where reads are asynchronous (WebGPU) tokens are drawn on the device: against the host.
      if (!backend.capabilities.syncReads) {
        const onHost = await timeTask(
          `decode host-sampled b${batch}`,
          () => withCache(params, prompts, newTokens, false),
          budget,
        );
        out.push(rate("host-side sampling", onHost), {
          shape: `${label}, device-sampling speed-up`,
          figure: onHost.seconds / cached.seconds,
          unit: RATIO_UNIT,
          samples: Math.min(cached.runs, onHost.runs),
          higherIsBetter: true,
        });
      }
      if (slow && batch > 1) continue;
      const recomputed = await timeTask(
        `decode uncached b${batch}`,
        () => withoutCache(params, prompts, newTokens),
        budget,
      );
      out.push(rate("no cache", recomputed), {
        shape: `${label}, cache speed-up`,
        figure: recomputed.seconds / cached.seconds,
        unit: RATIO_UNIT,
        samples: Math.min(cached.runs, recomputed.runs),
        higherIsBetter: true,
      });
    }
    disposeAll(params);
    for (const batch of options.profile ? shape.decode.batches : []) {
      const prompts = randomIds(benchKey(1), batch, promptLength);
      await profileOnce(backend, `decoding ${newTokens} tokens at batch ${batch}`, (profiled) => {
        const profiledParams = benchParams(profiled);
        return {
          run: () => withCache(profiledParams, prompts, newTokens),
          dispose: () => disposeAll(profiledParams),
        };
      });
    }
    return out;
  },
};
