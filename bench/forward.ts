/** Forward-pass throughput (tokens/s) of the bench model on one batch, without and with LoRA. */
import { scope, toArray } from "../lib/autodiff/tensor.ts";
import { forward } from "../lib/model/decoder.ts";
import { budgetFor, isSlow, timeTask } from "./measure.ts";
import type { Measurement, Suite } from "./suite.ts";
import {
  benchAdapter,
  benchKey,
  benchParams,
  disposeAll,
  modelConfig,
  modelLabel,
  randomIds,
  shape,
} from "./workload.ts";

export const forwardSuite: Suite = {
  name: "forward",
  description: "model forward tokens/s, batch × sequence from bench/shape.json, base and + LoRA",
  run: async (backend) => {
    const params = benchParams(backend);
    const adapter = benchAdapter(backend);
    const ids = randomIds(benchKey(0), shape.batch, shape.sequence);
    const tokens = shape.batch * shape.sequence;
    const budget = budgetFor(await isSlow(backend));
    const out: Measurement[] = [];
    const variants = [
      { label: "base", adapter: null },
      { label: `+ LoRA r${shape.lora.rank}`, adapter },
    ];
    for (const { label, adapter: withAdapter } of variants) {
      const { seconds, runs } = await timeTask(`forward ${label}`, async () => {
        const logits = scope(() =>
          forward(modelConfig, params, ids, { adapter: withAdapter }).logits
        );
        await toArray(logits);
        logits.dispose();
      }, budget);
      out.push({
        shape: `${modelLabel} ${label}, ${shape.batch}×${shape.sequence}`,
        figure: tokens / seconds,
        unit: "tokens/s",
        samples: runs,
        higherIsBetter: true,
      });
    }
    disposeAll([params, adapter.weights]);
    return out;
  },
};
