/**
 * The raw 16-bit patterns of one BF16 or F16 tensor of a safetensors file, read at its offset
 * without widening: for backends that keep frozen weights 16-bit in memory (Kernels.uploadHalf).
 * Like the widening reader, it refuses NaN and infinities, naming the file and tensor.
 */
import { open } from "node:fs/promises";
import type { HalfFormat } from "./half_float.ts";
import { countNonFinite, type ReadOptions, type TensorInfo } from "./safetensors.ts";

/** The half format of a safetensors dtype, or null for the others. */
export const halfFormatOf = (dtype: TensorInfo["dtype"]): HalfFormat | null =>
  dtype === "BF16" ? "bf16" : dtype === "F16" ? "f16" : null;

/** The tensor's 16-bit patterns; NaN/infinities refused unless `options.allowNonFinite`. */
export const readHalfBits = async (
  name: string,
  info: TensorInfo,
  options: ReadOptions = {},
): Promise<Uint16Array> => {
  const format = halfFormatOf(info.dtype);
  if (format === null) {
    throw new Error(`${info.file}: tensor "${name}" is ${info.dtype}, not BF16 or F16`);
  }
  // A plain buffer, not shared memory: backends copy the bits where they keep weights (the
  // native one into its WebAssembly arena, the pure-TS one into shared memory for its worker
  // threads), and a plain buffer can then be freed at once instead of when collected (the
  // 1.5B shape's loading peaked at 1.26x its weights while read buffers waited for that).
  const bits = new Uint16Array(info.byteLength / 2);
  const bytes = new Uint8Array(bits.buffer);
  const handle = await open(info.file, "r");
  try {
    for (let done = 0; done < bytes.length;) {
      const { bytesRead } = await handle.read(
        bytes,
        done,
        bytes.length - done,
        info.byteOffset + done,
      );
      if (bytesRead === 0) {
        throw new Error(
          `${info.file}: tensor "${name}" is cut short at byte ${info.byteOffset + done}`,
        );
      }
      done += bytesRead;
    }
  } finally {
    await handle.close();
  }
  const bad = options.allowNonFinite ? 0 : countNonFinite(bytes, info.dtype as "BF16" | "F16");
  if (bad > 0) {
    throw new Error(
      `${info.file}: tensor "${name}" holds ${bad} NaN or infinite values ` +
        "(allowNonFinite loads them anyway)",
    );
  }
  return bits;
};
