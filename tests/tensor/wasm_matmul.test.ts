// The SIMD matrix-product module (lib/tensor/wasm) against the pure-TS kernel on every layout
// its loops treat differently: rows past a multiple of 4, columns past a multiple of 8, k = 1,
// transposes, and a matrix shared across the batch. Also: the shipped bytes match the source.
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { foldIn, normal, prngKey } from "../../lib/random/prng.ts";
import type { Shape } from "../../lib/tensor/kernels.ts";
import { sizeOf } from "../../lib/tensor/shape.ts";
import { tsKernels } from "../../lib/tensor/ts/kernels.ts";
import { simdMatmul } from "../../lib/tensor/wasm/matmul.ts";
import { runProcess, runtimeCommand } from "../helpers/runtime.ts";

const key = prngKey(7);

/** Operand shapes for out = [...batch, m, n] with inner size k, stored as the flags say. */
const shapes = (
  batchA: number[],
  batchB: number[],
  [m, k, n]: [number, number, number],
  tA: boolean,
  tB: boolean,
): [Shape, Shape] => [
  [...batchA, ...(tA ? [k, m] : [m, k])],
  [...batchB, ...(tB ? [n, k] : [k, n])],
];

const sizes: [number, number, number][] = [[4, 3, 8], [7, 5, 13], [1, 1, 1], [9, 16, 3], [
  12,
  1,
  17,
]];
// As the Kernels contract allows: equal batches, or b one matrix shared by every entry.
const batches: [number[], number[]][] = [[[], []], [[3], [3]], [[2, 3], [2, 3]], [[3], []]];

let caseIndex = 0;
for (const size of sizes) {
  for (const [batchA, batchB] of batches) {
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        const [aShape, bShape] = shapes(batchA, batchB, size, tA, tB);
        const id = caseIndex++;
        test(
          `${JSON.stringify(aShape)}${tA ? "ᵀ" : ""} · ${JSON.stringify(bShape)}${tB ? "ᵀ" : ""}`,
          () => {
            const a = normal(foldIn(key, 2 * id), sizeOf(aShape));
            const b = normal(foldIn(key, 2 * id + 1), sizeOf(bShape));
            const got = simdMatmul(a, aShape, b, bShape, tA, tB);
            const want = tsKernels.matmul(a, aShape, b, bShape, tA, tB) as Float32Array;
            assert.is(got.length, want.length);
            const worst = got.reduce((w, g, i) => Math.max(w, Math.abs(g - want[i])), 0);
            assert.ok(worst < 1e-5, `max |difference| ${worst}`);
          },
        );
      }
    }
  }
}

test("a product after a larger one reads only its own operands", () => {
  const big = normal(key, 64 * 64);
  simdMatmul(big, [64, 64], big, [64, 64], false, false);
  const out = simdMatmul(
    Float32Array.of(1, 2),
    [1, 2],
    Float32Array.of(3, 4),
    [2, 1],
    false,
    false,
  );
  assert.equal(Array.from(out), [11]);
});

test("lib/tensor/wasm/matmul_wasm.ts is what its AssemblyScript source compiles to", async () => {
  const script = fileURLToPath(new URL("../../lib/tensor/wasm/build.mjs", import.meta.url));
  const [cmd, args] = runtimeCommand(script, ["--check"]);
  const { code, output } = await runProcess(cmd, args, process.cwd(), 60_000);
  assert.is(code, 0, output);
});

test.run();
