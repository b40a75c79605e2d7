/**
 * Matrix multiply throughput (GFLOP/s) through the op surface, including the read-back that
 * makes asynchronous backends finish: square sizes 64…1024 and the products a small
 * transformer layer runs (tokens × hidden against hidden × ffn and back, batched attention).
 */
import { Bench } from "tinybench";
import { matmul } from "../lib/autodiff/ops.ts";
import { type Tensor, tensor, toArray } from "../lib/autodiff/tensor.ts";
import type { Backend } from "../lib/tensor/backends.ts";
import { fmt, sizeOf } from "../lib/tensor/shape.ts";
import type { Shape } from "../lib/tensor/kernels.ts";
import { normal, prngKey, split } from "../lib/random/prng.ts";
import type { Measurement, Suite } from "./suite.ts";

interface Product {
  readonly a: Shape;
  readonly b: Shape;
  readonly transposeB?: boolean;
}

const square = (n: number): Product => ({ a: [n, n], b: [n, n] });

const products: readonly Product[] = [
  ...[64, 128, 256, 512, 1024].map(square),
  { a: [2048, 128], b: [128, 512] }, // tokens x hidden -> ffn
  { a: [2048, 512], b: [128, 512], transposeB: true }, // ffn -> hidden, weight stored [out, in]
  { a: [16, 128, 64], b: [16, 128, 64], transposeB: true }, // attention scores per head
];

const flopsOf = ({ a, b, transposeB }: Product): number => {
  const [m, k] = a.slice(-2);
  const n = transposeB ? b[b.length - 2] : b[b.length - 1];
  return 2 * sizeOf(a.slice(0, -2)) * m * n * k;
};

const label = (p: Product): string => `${fmt(p.a)} x ${fmt(p.b)}${p.transposeB ? "^T" : ""}`;

/** Enough time for a stable median on small products; big ones get a few runs only. */
const budget = (flops: number) =>
  flops >= 1e9
    ? { time: 0, iterations: 2, warmupTime: 0, warmupIterations: 1 }
    : { time: 400, iterations: 5, warmupTime: 150, warmupIterations: 3 };

const measure = async (backend: Backend, p: Product): Promise<Measurement> => {
  const [ka, kb] = split(prngKey(0));
  const a = tensor(backend, normal(ka, sizeOf(p.a)), p.a);
  const b = tensor(backend, normal(kb, sizeOf(p.b)), p.b);
  const flops = flopsOf(p);
  const bench = new Bench({ ...budget(flops), throws: true });
  bench.add(label(p), async () => {
    const c: Tensor = matmul(a, b, { transposeB: p.transposeB });
    await toArray(c);
    c.dispose();
  });
  const [task] = await bench.run();
  a.dispose();
  b.dispose();
  const result = task.result;
  if (result.state !== "completed") throw new Error(`matmul ${label(p)}: task ${result.state}`);
  return {
    shape: label(p),
    figure: flops / result.latency.p50 / 1e6, // FLOP per ms / 1e6 = GFLOP/s
    unit: "GFLOP/s",
    samples: task.runs,
    higherIsBetter: true,
  };
};

export const matmulSuite: Suite = {
  name: "matmul",
  description: "float32 matmul GFLOP/s, square 64…1024 and transformer-shaped products",
  run: async (backend) => {
    const out: Measurement[] = [];
    for (const p of products) out.push(await measure(backend, p));
    return out;
  },
};
