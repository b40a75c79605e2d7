/**
 * Loads a model directory and reports what it holds: the bytes of its tensors on the backend
 * (metered), the process's resident memory after loading, and the seconds it took. Run it under
 * `/usr/bin/time -v` for the peak while loading (issue 12: at most 1.2x the resident weights):
 *
 *   /usr/bin/time -v npx deno run -A bench/load-model.ts --model DIR [--backend ts]
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { loadModel } from "../lib/model/load.ts";
import { loadBackend } from "../lib/tensor/backends.ts";
import { meteredBackend } from "../lib/tensor/metered.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { model: { type: "string" }, backend: { type: "string", default: "ts" } },
});
if (values.model === undefined) {
  console.error("usage: load-model --model DIR [--backend ts]");
  process.exit(2);
}
const { backend, meter } = meteredBackend(await loadBackend(values.backend!));
const started = performance.now();
const model = await loadModel(values.model, { backend });
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({
  model: values.model,
  backend: backend.name,
  dtype: model.config.dtype,
  seconds: Number(seconds.toFixed(1)),
  tensorBytes: meter.live(),
  rssAfterLoad: process.memoryUsage().rss,
}));
process.exit(0);
