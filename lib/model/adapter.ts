/** PEFT adapters on the host (lib/io) <-> LoRA weight trees on a backend. */
import { type Tensor, tensor, toArray } from "../autodiff/tensor.ts";
import type { Backend } from "../tensor/backends.ts";
import type { LoraConfig, LoraLayer, LoraPair, PeftAdapter } from "../io/peft.ts";
import { loraScaling } from "../io/peft.ts";
import type { Proj } from "../io/weight_layout.ts";
import type { LoraWeights } from "./decoder.ts";

/** A PEFT adapter's host tensors uploaded to a backend, as the LoRA weights a forward applies. */
export const adapterToDevice = (backend: Backend, host: PeftAdapter): LoraWeights => ({
  layers: host.layers.map((layer) =>
    Object.fromEntries(
      Object.entries(layer).map(([proj, pair]) => [proj, {
        A: tensor(backend, pair!.A.data, pair!.A.shape),
        B: tensor(backend, pair!.B.data, pair!.B.shape),
      }]),
    )
  ),
});

/**
 * LoRA weights read back from a backend into a PEFT adapter (config + host tensors), ready for
 * writeAdapter.
 */
export const adapterToHost = async (
  config: LoraConfig,
  weights: LoraWeights,
): Promise<PeftAdapter> => {
  const layers: LoraLayer[] = [];
  for (const layer of weights.layers) {
    const entries: [
      Proj,
      {
        A: { shape: readonly number[]; data: Float32Array };
        B: { shape: readonly number[]; data: Float32Array };
      },
    ][] = [];
    for (const [proj, pair] of Object.entries(layer) as [Proj, LoraPair<Tensor>][]) {
      entries.push([proj, {
        A: { shape: pair.A.shape, data: (await toArray(pair.A)) as Float32Array },
        B: { shape: pair.B.shape, data: (await toArray(pair.B)) as Float32Array },
      }]);
    }
    layers.push(Object.fromEntries(entries));
  }
  return { config, layers };
};

export { loraScaling };
