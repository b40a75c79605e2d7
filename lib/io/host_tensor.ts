/**
 * Tensors as files hold them: a shape and a flat row-major array on the host, independent of
 * any compute backend. Float dtypes (F32, F16, BF16) widen to Float32Array; integer dtypes
 * (token ids) to Int32Array.
 */

export type HostTensor = { readonly shape: readonly number[]; readonly data: Float32Array };
/** An int32 tensor in host memory. */
export type IntHostTensor = { readonly shape: readonly number[]; readonly data: Int32Array };

/** Number of elements a shape holds (1 for a scalar, shape []). */
export const numElements = (shape: readonly number[]): number => shape.reduce((n, d) => n * d, 1);

/** A shape as "[2, 3]" for messages. */
export const formatShape = (shape: readonly number[]): string => `[${shape.join(", ")}]`;

/** Whether two shapes are equal. */
export const sameShape = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((d, i) => d === b[i]);
