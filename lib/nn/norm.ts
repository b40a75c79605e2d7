/** RMSNorm: weight · x / sqrt(mean(x²) + eps) over the last axis, one fused kernel each way. */
export { rmsNorm } from "../autodiff/fused.ts";
