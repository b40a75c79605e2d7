/** The SiLU-gated MLP of Qwen2/Llama: down(silu(gate(x)) · up(x)). */
import { swiglu } from "../autodiff/fused.ts";
import type { Tensor } from "../autodiff/tensor.ts";
import { linear, type LinearParams, type LoraBranch } from "./linear.ts";

/** A SwiGLU MLP's projections: down(silu(gate(x)) · up(x)). */
export interface MlpParams {
  /** The gated branch (through SiLU). */
  readonly gate: LinearParams;
  /** The linear branch. */
  readonly up: LinearParams;
  /** Back to the hidden size. */
  readonly down: LinearParams;
}

export type MlpLora = Partial<Record<keyof MlpParams, LoraBranch | null>>;

export const gatedMlp = (x: Tensor, p: MlpParams, lora: MlpLora = {}): Tensor =>
  linear(swiglu(linear(x, p.gate, lora.gate), linear(x, p.up, lora.up)), p.down, lora.down);
