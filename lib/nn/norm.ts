/** RMSNorm: weight · x / sqrt(mean(x²) + eps) over the last axis. */
import { add, mean, mul, rsqrt, square } from "../autodiff/ops.ts";
import type { Tensor } from "../autodiff/tensor.ts";

export const rmsNorm = (x: Tensor, weight: Tensor, eps: number): Tensor =>
  mul(mul(x, rsqrt(add(mean(square(x), -1, true), eps))), weight);
