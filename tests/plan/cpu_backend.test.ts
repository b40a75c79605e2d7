// The CPU backend a run prefers: tfjs-wasm below 100M parameters, the native BLAS from there,
// only among the backends that start here; the planner then takes the first that fits.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { cpuPreference, NATIVE_FIRST_PARAMETERS } from "../../lib/plan/cpu_backend.ts";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { baseParameterCount, chooseBackend, estimateMemory } from "../../lib/plan/memory.ts";
import { decodeModelConfig } from "../../lib/io/hf_config.ts";
import { orThrow } from "../../lib/io/json_codec.ts";
import { PROJS } from "../../lib/io/weight_layout.ts";
import type { BackendName } from "../../lib/tensor/kernels.ts";

const all: BackendName[] = ["ts", "tfjs-wasm", "native"];

test("small models prefer tfjs-wasm, large ones the native BLAS, ts last", () => {
  assert.equal(cpuPreference(0.99e6, all).order, ["tfjs-wasm", "native", "ts"]);
  assert.equal(cpuPreference(NATIVE_FIRST_PARAMETERS, all).order, ["native", "tfjs-wasm", "ts"]);
  assert.match(cpuPreference(494e6, all).reason, /^494M parameters: a native BLAS is fastest/);
  assert.match(cpuPreference(0.99e6, all).reason, /^0\.99M parameters: tfjs-wasm is fastest/);
});

test("only backends that start here are offered (Node: no native)", () => {
  assert.equal(cpuPreference(494e6, ["ts", "tfjs-wasm"]).order, ["tfjs-wasm", "ts"]);
  assert.equal(cpuPreference(494e6, ["ts"]).order, ["ts"]);
});

test("the 0.5B shape in BF16 plans onto native, which keeps its weights 16-bit", async () => {
  const path = fileURLToPath(
    new URL("../../bench/shapes/qwen2.5-0.5b-instruct.json", import.meta.url),
  );
  const config = orThrow(decodeModelConfig(JSON.parse(await readFile(path, "utf8")), path));
  const estimate = estimateMemory(config, {
    sequences: 4,
    promptLength: 160,
    completionLength: 16,
    lora: { rank: 32, targets: PROJS },
    gradientCheckpointing: true,
  });
  const { order } = cpuPreference(baseParameterCount(config), all);
  // 3 GB free: float32 weights (1.98 GB) plus the rest do not fit; BF16 ones (0.99 GB) do.
  assert.is(chooseBackend(estimate, null, order, 3e9, true), "native");
  assert.throws(() => chooseBackend(estimate, null, order, 3e9, false), /backend ts cannot hold/);
});

test.run();
