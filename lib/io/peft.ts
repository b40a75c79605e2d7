/**
 * PEFT LoRA adapters: `adapter_config.json` + `adapter_model.safetensors`, keys
 * `base_model.model.model.layers.{i}.{self_attn|mlp}.{proj}_proj.lora_{A|B}.weight` with
 * A: [r, in_features] and B: [out_features, r]. Adapters written here load in PEFT, and PEFT's
 * load here; PEFT options this library does not implement are refused, never ignored.
 */
import * as t from "io-ts";
import { type Either, isLeft, right } from "fp-ts/lib/Either.js";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic.ts";
import type { ModelConfig } from "./hf_config.ts";
import { formatShape, type HostTensor, sameShape } from "./host_tensor.ts";
import {
  decodeWith,
  formatProblems,
  MAX_PROBLEM_LINES,
  orThrow,
  PositiveInt,
  PositiveNumber,
  quote,
  readJsonFile,
  refine,
} from "./json_codec.ts";
import { type ReadOptions, readSafetensors, writeSafetensors } from "./safetensors.ts";
import { layerPrefix, type Proj, projFeatures, projModule, PROJS } from "./weight_layout.ts";

/** PEFT's adapter config file name. */
export const ADAPTER_CONFIG_FILE = "adapter_config.json";
/** PEFT's adapter weights file name. */
export const ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors";

/** PEFT's LoraConfig fields this library reads and writes (adapter_config.json, camelCased). */
export type LoraConfig = {
  /** The adapters' rank. */
  readonly r: number;
  /** The scaling numerator (alpha / r, or alpha / √r with rsLoRA). */
  readonly loraAlpha: number;
  /** Dropout on the adapter branch's input, during training only. */
  readonly loraDropout: number;
  /** The projections that have adapters. */
  readonly targetModules: readonly Proj[];
  /** Scale by alpha / sqrt(r) instead of alpha / r. */
  readonly useRslora: boolean;
  /** PEFT's task type (CAUSAL_LM). */
  readonly taskType: string | null;
  /** The model the adapter was trained on, when known. */
  readonly baseModelNameOrPath: string | null;
};

/** Tina's adapter: rank 32, alpha 128, dropout 0.05 on all seven projections. */
export const TINA_LORA_CONFIG: LoraConfig = Object.freeze({
  r: 32,
  loraAlpha: 128,
  loraDropout: 0.05,
  targetModules: PROJS,
  useRslora: false,
  taskType: "CAUSAL_LM",
  baseModelNameOrPath: null,
});

/** A LoRA pair: A [r, in], B [out, r]; host arrays here, device tensors in the model (T). */
export type LoraPair<T = HostTensor> = { readonly A: T; readonly B: T };
/** One layer's adapted projections (possibly none). */
export type LoraLayer<T = HostTensor> = Readonly<Partial<Record<Proj, LoraPair<T>>>>;
/**
 * A LoRA adapter on the host, as PEFT saves it: its config, and in `layers[i]` layer i's
 * adapted projections (possibly none). On a device it is a LoraAdapter (loadAdapter).
 */
export type PeftAdapter = { readonly config: LoraConfig; readonly layers: readonly LoraLayer[] };

/** The factor the adapter's B·A is multiplied by: alpha / r, or alpha / √r with rsLoRA. */
export const loraScaling = (config: LoraConfig): number =>
  config.loraAlpha / (config.useRslora ? Math.sqrt(config.r) : config.r);

const moduleNames = Object.fromEntries(PROJS.map((p) => [`${p}_proj`, null])) as Record<
  `${Proj}_proj`,
  null
>;
const TargetModules = t.union([
  t.array(t.keyof(moduleNames)),
  t.literal("all-linear"),
], `a list drawn from ${Object.keys(moduleNames).join(", ")}, or "all-linear"`);

const unsupported = (what: string) => `(${what} is not supported)`;
const EmptyMap = refine(
  t.UnknownRecord,
  (r) => Object.keys(r).length === 0,
  `{} ${unsupported("a per-module rank or alpha")}`,
);

/** An option that must be off: `isOff` accepts PEFT's off values, `off` names them. */
const Off = (isOff: (value: unknown) => boolean, off: string, what: string) =>
  refine(t.unknown, isOff, `${off} ${unsupported(what)}`);
const isNullOrEmptyList = (value: unknown) =>
  value === null || (Array.isArray(value) && value.length === 0);

/**
 * PEFT options that change which modules or layers are adapted, or how: each must be absent or
 * off, so an adapter never loads as if it adapted what it does not (or the reverse).
 */
const UnsupportedOptionsCodec = t.partial({
  bias: t.literal("none", `"none" ${unsupported("training biases")}`),
  fan_in_fan_out: t.literal(false, `false ${unsupported("fan_in_fan_out")}`),
  use_dora: t.literal(false, `false ${unsupported("DoRA")}`),
  lora_bias: t.literal(false, `false ${unsupported("a LoRA bias")}`),
  modules_to_save: Off((v) => v === null, "null", "saving full modules"),
  rank_pattern: EmptyMap,
  alpha_pattern: EmptyMap,
  layers_to_transform: Off(isNullOrEmptyList, "null", "adapting only some layers"),
  layers_pattern: Off((v) => isNullOrEmptyList(v) || v === "", "null", "a layers pattern"),
  layer_replication: Off((v) => v === null, "null", "layer replication"),
  exclude_modules: Off(isNullOrEmptyList, "null", "excluding modules"),
  target_parameters: Off(isNullOrEmptyList, "null", "adapting parameters"),
  trainable_token_indices: Off((v) => v === null, "null", "training token embeddings"),
  use_qalora: Off((v) => v === false, "false", "QA-LoRA"),
  alora_invocation_tokens: Off((v) => v === null, "null", "activated LoRA"),
  megatron_config: Off((v) => v === null, "null", "Megatron layers"),
});

const LoraConfigCodec = t.intersection([
  t.type({
    peft_type: t.literal("LORA", `"LORA" ${unsupported("any other PEFT method")}`),
    r: PositiveInt,
    lora_alpha: PositiveNumber,
    target_modules: TargetModules,
  }, "a JSON object"),
  t.partial({
    lora_dropout: refine(t.number, (p) => p >= 0 && p < 1, "a probability in [0, 1)"),
    use_rslora: t.boolean,
    task_type: t.union([t.string, t.null], "a string or null"),
    base_model_name_or_path: t.union([t.string, t.null], "a string or null"),
  }),
  UnsupportedOptionsCodec,
]);

/** adapter_config.json's contents checked and read, or every problem (an unsupported PEFT option is named, not ignored). */
export const decodeLoraConfig = (json: unknown, file: string): Either<string, LoraConfig> => {
  const decoded = decodeWith(LoraConfigCodec, json, file);
  if (isLeft(decoded)) return decoded;
  const raw = decoded.right;
  const targets = raw.target_modules === "all-linear"
    ? PROJS
    : PROJS.filter((p) => (raw.target_modules as readonly string[]).includes(`${p}_proj`));
  return right(Object.freeze({
    r: raw.r,
    loraAlpha: raw.lora_alpha,
    loraDropout: raw.lora_dropout ?? 0,
    targetModules: Object.freeze(targets),
    useRslora: raw.use_rslora ?? false,
    taskType: raw.task_type ?? null,
    baseModelNameOrPath: raw.base_model_name_or_path ?? null,
  }));
};

/**
 * The `adapter_config.json` object. Only fields PEFT has long had are written (a missing field
 * takes PEFT's default), so older PEFT versions load it too.
 */
export const encodeLoraConfig = (config: LoraConfig): Record<string, unknown> => ({
  peft_type: "LORA",
  task_type: config.taskType,
  base_model_name_or_path: config.baseModelNameOrPath,
  revision: null,
  inference_mode: true,
  r: config.r,
  lora_alpha: config.loraAlpha,
  lora_dropout: config.loraDropout,
  target_modules: config.targetModules.map((p) => `${p}_proj`),
  bias: "none",
  fan_in_fan_out: false,
  use_rslora: config.useRslora,
  modules_to_save: null,
  init_lora_weights: true,
  layers_to_transform: null,
  layers_pattern: null,
  rank_pattern: {},
  alpha_pattern: {},
});

/** The safetensors name PEFT gives layer `layer`'s `proj` A or B matrix. */
export const adapterKey = (layer: number, proj: Proj, matrix: "A" | "B"): string =>
  `base_model.model.${layerPrefix(layer)}.${projModule(proj)}.lora_${matrix}.weight`;

const KEY_PATTERN =
  /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(q|k|v|o|gate|up|down)_proj\.lora_([AB])\.weight$/;

/** Parses a PEFT key, or null when it is not a LoRA matrix of one of the seven projections. */
const parseKey = (key: string) => {
  const match = KEY_PATTERN.exec(key);
  if (match === null) return null;
  const [, layer, , proj, matrix] = match;
  // The regex accepts e.g. "mlp.q_proj"; the round trip through adapterKey rejects it.
  const parsed = { layer: Number(layer), proj: proj as Proj, matrix: matrix as "A" | "B" };
  return adapterKey(parsed.layer, parsed.proj, parsed.matrix) === key ? parsed : null;
};

/** The shape a LoRA matrix must have: [r, in] or [out, r], features from `model` or `reference`. */
const expectedShape = (
  config: LoraConfig,
  proj: Proj,
  matrix: "A" | "B",
  reference: readonly number[],
  model?: ModelConfig,
): readonly number[] => {
  const features = model === undefined
    ? { in: reference[1], out: reference[0] }
    : projFeatures(model, proj);
  return matrix === "A" ? [config.r, features.in] : [features.out, config.r];
};

/** The first `limit` expected keys absent from `tensors`, in layer order. */
const firstMissing = (
  tensors: ReadonlyMap<string, HostTensor>,
  layerCount: number,
  targets: readonly Proj[],
  limit: number,
): string[] => {
  const missing: string[] = [];
  for (let layer = 0; layer < layerCount && missing.length < limit; layer++) {
    for (const proj of targets) {
      for (const matrix of ["A", "B"] as const) {
        const key = adapterKey(layer, proj, matrix);
        if (!tensors.has(key)) missing.push(`missing ${quote(key)}`);
      }
    }
  }
  return missing;
};

/**
 * Builds an adapter from PEFT-named tensors, checking every key and shape (against `model`,
 * when given, so an adapter for another architecture or size is refused naming the key; else
 * against the first layer's, so every layer agrees) and that nothing is missing: every
 * targeted projection of every layer (of the model, else up to the last one present) has its
 * A and B, as PEFT itself would warn. Ranks follow `config.r` (per-module ranks are refused
 * when the config is decoded).
 */
export const adapterFromTensors = (
  config: LoraConfig,
  tensors: ReadonlyMap<string, HostTensor>,
  file: string,
  model?: ModelConfig,
): PeftAdapter => {
  const fail = (message: string): never => {
    throw new Error(`${file}: ${message}`);
  };
  if (tensors.size === 0) fail("no LoRA tensors (an empty adapter would change nothing)");
  const firstShapes = new Map<string, readonly number[]>();
  let lastLayer = 0;
  for (const [key, tensor] of tensors) {
    const where = parseKey(key) ??
      fail(`unexpected tensor ${quote(key)} (not a LoRA A/B weight of a decoder-layer projection)`);
    if (!config.targetModules.includes(where.proj)) {
      fail(`tensor ${quote(key)}: ${where.proj}_proj is not in target_modules`);
    }
    if (model !== undefined && where.layer >= model.numHiddenLayers) {
      fail(
        `tensor ${quote(key)}: layer ${where.layer}, but the model has ${model.numHiddenLayers}`,
      );
    }
    const slot = `${where.proj}.${where.matrix}`;
    const reference = firstShapes.get(slot) ?? tensor.shape;
    firstShapes.set(slot, reference);
    const expected = expectedShape(config, where.proj, where.matrix, reference, model);
    if (!sameShape(tensor.shape, expected)) {
      fail(
        `tensor ${quote(key)} has shape ${formatShape(tensor.shape)}, expected ${
          formatShape(expected)
        }`,
      );
    }
    lastLayer = Math.max(lastLayer, where.layer);
  }
  const layerCount = model?.numHiddenLayers ?? lastLayer + 1;
  const targets = PROJS.filter((proj) => config.targetModules.includes(proj));
  // Every parsed key is distinct and one of these, so fewer tensors means some are missing;
  // the first few are named without listing the rest (a key may claim layer 10^9).
  const expectedCount = layerCount * targets.length * 2;
  if (tensors.size < expectedCount) {
    const summary = `${expectedCount - tensors.size} of ${expectedCount} LoRA tensors missing ` +
      "(every layer adapts every target module, with lora_A and lora_B)";
    throw new Error(
      formatProblems(file, [
        summary,
        ...firstMissing(tensors, layerCount, targets, MAX_PROBLEM_LINES - 1),
      ]),
    );
  }
  const layers = Array.from(
    { length: layerCount },
    (_, layer) =>
      Object.freeze(Object.fromEntries(targets.map((proj) => [proj, {
        A: tensors.get(adapterKey(layer, proj, "A"))!,
        B: tensors.get(adapterKey(layer, proj, "B"))!,
      }])) as LoraLayer),
  );
  return Object.freeze({ config, layers: Object.freeze(layers) });
};

/** The adapter's tensors under their PEFT names. */
export const adapterTensors = (adapter: PeftAdapter): ReadonlyMap<string, HostTensor> =>
  new Map(adapter.layers.flatMap((layer, i) =>
    PROJS.flatMap((proj) => {
      const pair = layer[proj];
      return pair === undefined ? [] : [
        [adapterKey(i, proj, "A"), pair.A] as const,
        [adapterKey(i, proj, "B"), pair.B] as const,
      ];
    })
  ));

/** Reads a PEFT adapter directory, checked against `model` when given. */
export const readAdapter = async (
  dir: string,
  model?: ModelConfig,
  options: ReadOptions = {},
): Promise<PeftAdapter> => {
  const configPath = join(dir, ADAPTER_CONFIG_FILE);
  const config = orThrow(decodeLoraConfig(await readJsonFile(configPath), configPath));
  const weightsPath = join(dir, ADAPTER_WEIGHTS_FILE);
  const { floats, ints } = await readSafetensors(weightsPath, undefined, options);
  const [intName] = ints.keys();
  if (intName !== undefined) {
    throw new Error(
      `${weightsPath}: tensor ${quote(intName)} is an integer tensor, adapters are floats`,
    );
  }
  return adapterFromTensors(config, floats, weightsPath, model);
};

/**
 * Writes `adapter_config.json` and `adapter_model.safetensors` (F32, so a save/load round trip
 * is bit-identical), each atomically, creating `dir` if needed.
 */
export const writeAdapter = async (dir: string, adapter: PeftAdapter): Promise<void> => {
  const weightsPath = join(dir, ADAPTER_WEIGHTS_FILE);
  const tensors = adapterTensors(adapter);
  adapterFromTensors(adapter.config, tensors, weightsPath); // refuse to write what cannot be read
  await mkdir(dir, { recursive: true });
  await writeSafetensors(weightsPath, tensors, { metadata: { format: "pt" } });
  const json = JSON.stringify(encodeLoraConfig(adapter.config), null, 2) + "\n";
  await writeFileAtomic(join(dir, ADAPTER_CONFIG_FILE), json);
};
