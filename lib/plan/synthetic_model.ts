/**
 * Random weights for any supported model config, as the chunks of one safetensors file: the
 * header, then each tensor in slices of at most `SLICE_VALUES` values, generated as they are
 * written. A 1.5B model is never held in memory; peak use is one slice.
 *
 * Values follow Hugging Face's initialisation: linear and embedding weights ~ N(0, std²)
 * (`initializer_range`), norms 1, biases 0. Every slice has its own key (tensor index, slice
 * index), so the same seed gives the same file on every runtime.
 */
import { encodeBf16, encodeF16 } from "../io/half_float.ts";
import type { ModelConfig, TorchDtype } from "../io/hf_config.ts";
import { numElements } from "../io/host_tensor.ts";
import { encodeSafetensorsHeader, type FloatDtype } from "../io/safetensors.ts";
import { expectedWeightShapes } from "../io/weight_layout.ts";
import { foldIn, type Key, normal } from "../random/prng.ts";

/** 4M values: 8 MB of BF16 per slice, 16 MB of f32 while it is drawn. */
export const SLICE_VALUES = 1 << 22;

export const SAFETENSORS_DTYPE: Readonly<Record<TorchDtype, FloatDtype>> = {
  float32: "F32",
  float16: "F16",
  bfloat16: "BF16",
};

/** How a tensor's values are drawn, by its name. */
const fillOf = (name: string): "ones" | "zeros" | "normal" =>
  name.endsWith("norm.weight") ? "ones" : name.endsWith(".bias") ? "zeros" : "normal";

const encode = (values: Float32Array, dtype: FloatDtype): Uint8Array => {
  const out = dtype === "F32" ? values : dtype === "BF16" ? encodeBf16(values) : encodeF16(values);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
};

/**
 * The bytes of `model.safetensors` for `config`, weights in `dtype`, drawn from `key` with
 * standard deviation `std`. Tensor names and shapes are those the loader expects.
 */
export function* syntheticWeightChunks(
  config: ModelConfig,
  dtype: TorchDtype,
  key: Key,
  { std = 0.02, sliceValues = SLICE_VALUES }: { std?: number; sliceValues?: number } = {},
): Generator<Uint8Array> {
  const format = SAFETENSORS_DTYPE[dtype];
  const shapes = [...expectedWeightShapes(config)];
  yield encodeSafetensorsHeader(shapes, { dtype: format, metadata: { format: "pt" } });
  for (const [index, [name, shape]] of shapes.entries()) {
    const total = numElements(shape);
    const fill = fillOf(name);
    for (let begin = 0, slice = 0; begin < total; begin += sliceValues, slice++) {
      const n = Math.min(sliceValues, total - begin);
      const values = fill === "normal"
        ? normal(foldIn(foldIn(key, index), slice), n, 0, std)
        : new Float32Array(n).fill(fill === "ones" ? 1 : 0);
      yield encode(values, format);
    }
  }
}

/** The parameter count of a config's base weights (what the file holds). */
export const parameterCount = (config: ModelConfig): number =>
  [...expectedWeightShapes(config).values()].reduce((n, shape) => n + numElements(shape), 0);
