import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readModel, readModelConfig } from "../../lib/io/mod.ts";
import { readAdapter } from "../../lib/io/peft.ts";
import { loadModel } from "../../lib/model/load.ts";
import { defaultTaskTokenizer, loadTokenizer } from "../../lib/tokenizer/mod.ts";
import { fixture, withTempDir } from "../io/helpers.ts";
import {
  adapterCases,
  type BaseFiles,
  type Corruption,
  DEVICE,
  DIRECTORY,
  headerBitFlips,
  jsonFileCases,
  type Loader,
  modelConfigCases,
  type Replacement,
  tokenizerCases,
  truncations,
  weightFileCases,
} from "./corpus.ts";

const MODEL_FILES = [
  "config.json",
  "model.safetensors",
  "adapter_config.json",
  "adapter_model.safetensors",
];

/** qwen2-tiny's model and adapter, with the task tokenizer beside them. */
const baseFiles = async (): Promise<BaseFiles> => {
  const { tokenizer, config } = defaultTaskTokenizer().toJSON();
  const utf8 = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  const model = await Promise.all(
    MODEL_FILES.map(async (name) =>
      [name, new Uint8Array(await readFile(fixture(`qwen2-tiny/${name}`)))] as const
    ),
  );
  return Object.fromEntries([
    ...model,
    ["tokenizer.json", utf8(tokenizer)],
    ["tokenizer_config.json", utf8(config)],
  ]);
};

/** Each kind of file through every public loader that reads it (loadModel streams on its own). */
const LOADERS: Record<Loader, readonly ((dir: string) => Promise<unknown>)[]> = {
  model: [(dir) => readModel(dir), (dir) => loadModel(dir, { backend: "ts" })],
  adapter: [async (dir) => readAdapter(dir, await readModelConfig(dir))],
  tokenizer: [
    async (dir) =>
      (await loadTokenizer(dir)).applyChatTemplate([{ role: "user", content: "2+2?" }]),
  ],
};

const materialize = async (
  dir: string,
  base: BaseFiles,
  replace: Readonly<Record<string, Replacement>>,
): Promise<void> => {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries({ ...base, ...replace })) {
    if (content === DIRECTORY) await mkdir(join(dir, name));
    else if (content === DEVICE) await symlink("/dev/zero", join(dir, name));
    else await writeFile(join(dir, name), content);
  }
};

/** Signs of an error the loaders did not catch and explain themselves. */
const INTERNAL = /TypeError|RangeError|SyntaxError|undefined is not|is not a function|Cannot read/;
const MAX_MESSAGE_CHARS = 3000;

/** Why a case's outcome is wrong, or null when it failed as it must. */
const judgeEvery = async (dir: string, corruption: Corruption): Promise<string | null> => {
  for (const [i, load] of LOADERS[corruption.loader].entries()) {
    const verdict = await judge(dir, corruption, load);
    if (verdict !== null) return i === 0 ? verdict : `loader ${i + 1}: ${verdict}`;
  }
  return null;
};

const judge = async (
  dir: string,
  corruption: Corruption,
  load: (dir: string) => Promise<unknown>,
): Promise<string | null> => {
  let error: unknown = null;
  try {
    await load(dir);
  } catch (e) {
    error = e;
  }
  if (error === null) return "loaded without an error";
  if (!(error instanceof Error) || error.constructor !== Error) {
    return `threw ${String(error).slice(0, 200)}`;
  }
  const { message } = error;
  const expected = join(dir, corruption.file);
  if (!message.includes(expected)) return `does not name ${expected}: ${message.slice(0, 300)}`;
  if (message.length > MAX_MESSAGE_CHARS) return `a ${message.length}-character message`;
  if (INTERNAL.test(message)) return `an internal error: ${message.slice(0, 300)}`;
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u0009\u000b-\u001f]/.test(message)) return `control characters in ${message}`;
  return null;
};

const runCorpus = async (cases: readonly Corruption[]): Promise<void> => {
  const base = await baseFiles();
  await withTempDir(async (root) => {
    const wrong: string[] = [];
    for (const [i, corruption] of cases.entries()) {
      const dir = join(root, `case-${i}`);
      await materialize(dir, base, corruption.replace);
      const verdict = await judgeEvery(dir, corruption);
      if (verdict !== null) wrong.push(`${corruption.name}: ${verdict}`);
      await rm(dir, { recursive: true, force: true });
    }
    assert.equal(wrong, [], `${wrong.length} of ${cases.length} cases:\n${wrong.join("\n")}`);
  });
};

test("the uncorrupted base loads with every loader (so each case fails by its corruption)", async () => {
  const base = await baseFiles();
  await withTempDir(async (dir) => {
    await materialize(dir, base, {});
    for (const load of Object.values(LOADERS).flat()) await load(dir);
  });
});

test("valid fixtures still load", async () => {
  for (const dir of ["qwen2-tiny", "qwen2-tiny/sharded", "qwen2-tiny-tied"]) {
    const { weights } = await readModel(fixture(dir));
    assert.ok(weights.size > 0, dir);
  }
  for (const dir of ["qwen2-tiny", "qwen2-tiny/rslora", "qwen2-tiny-tied"]) {
    const model = await readModelConfig(fixture(dir === "qwen2-tiny/rslora" ? "qwen2-tiny" : dir));
    assert.ok((await readAdapter(fixture(dir), model)).layers.length > 0, dir);
  }
});

test("truncations at every region of the weight and adapter files are refused", async () => {
  const base = await baseFiles();
  await runCorpus([
    ...truncations("model.safetensors", base["model.safetensors"], "model"),
    ...truncations("adapter_model.safetensors", base["adapter_model.safetensors"], "adapter"),
  ]);
});

test("bit flips in the safetensors headers are refused", async () => {
  const base = await baseFiles();
  await runCorpus([
    ...headerBitFlips("model.safetensors", base["model.safetensors"], "model", 7),
    ...headerBitFlips("adapter_model.safetensors", base["adapter_model.safetensors"], "adapter", 9),
  ]);
});

test("each failure of issue #17 is refused, naming the file", async () => {
  const base = await baseFiles();
  await runCorpus([
    ...weightFileCases("model.safetensors", base["model.safetensors"], "model"),
    ...modelConfigCases(base),
    ...jsonFileCases(base),
    ...adapterCases(base),
    ...tokenizerCases(base),
  ]);
});

test.run();
