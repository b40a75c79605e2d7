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
  named,
  orThrow,
  PositiveInt,
  PositiveNumber,
  readJsonFile,
  refine,
} from "./json_codec.ts";
import { readSafetensors, writeSafetensors } from "./safetensors.ts";
import { layerPrefix, type Proj, projFeatures, projModule, PROJS } from "./weight_layout.ts";

export const ADAPTER_CONFIG_FILE = "adapter_config.json";
export const ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors";

export type LoraConfig = {
  readonly r: number;
  readonly loraAlpha: number;
  /** Dropout on the adapter branch's input, during training only. */
  readonly loraDropout: number;
  readonly targetModules: readonly Proj[];
  /** Scale by alpha / sqrt(r) instead of alpha / r. */
  readonly useRslora: boolean;
  readonly taskType: string | null;
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

export type LoraPair = { readonly A: HostTensor; readonly B: HostTensor };
export type LoraLayer = Readonly<Partial<Record<Proj, LoraPair>>>;
/** `layers[i]` holds layer i's adapted projections (possibly none). */
export type Adapter = { readonly config: LoraConfig; readonly layers: readonly LoraLayer[] };

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
    bias: t.literal("none", `"none" ${unsupported("training biases")}`),
    fan_in_fan_out: t.literal(false, `false ${unsupported("fan_in_fan_out")}`),
    use_dora: t.literal(false, `false ${unsupported("DoRA")}`),
    lora_bias: t.literal(false, `false ${unsupported("a LoRA bias")}`),
    modules_to_save: named(t.null, `null ${unsupported("saving full modules")}`),
    rank_pattern: EmptyMap,
    alpha_pattern: EmptyMap,
  }),
]);

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

/** The shape a LoRA matrix must have; in/out features known only when the model is given. */
const expectedShape = (
  config: LoraConfig,
  proj: Proj,
  matrix: "A" | "B",
  found: readonly number[],
  model?: ModelConfig,
): readonly number[] => {
  const features = model === undefined
    ? { in: found[1], out: found[0] }
    : projFeatures(model, proj);
  return matrix === "A" ? [config.r, features.in] : [features.out, config.r];
};

/**
 * Builds an adapter from PEFT-named tensors, checking every key and shape (against `model`,
 * when given, so an adapter for another architecture or size is refused naming the key).
 */
export const adapterFromTensors = (
  config: LoraConfig,
  tensors: ReadonlyMap<string, HostTensor>,
  file: string,
  model?: ModelConfig,
): Adapter => {
  const fail = (message: string): never => {
    throw new Error(`${file}: ${message}`);
  };
  const parsed = [...tensors].map(([key, tensor]) => {
    const where = parseKey(key) ??
      fail(`unexpected tensor "${key}" (not a LoRA A/B weight of a decoder-layer projection)`);
    if (!config.targetModules.includes(where.proj)) {
      fail(`tensor "${key}": ${where.proj}_proj is not in target_modules`);
    }
    if (model !== undefined && where.layer >= model.numHiddenLayers) {
      fail(`tensor "${key}": layer ${where.layer}, but the model has ${model.numHiddenLayers}`);
    }
    const expected = expectedShape(config, where.proj, where.matrix, tensor.shape, model);
    if (!sameShape(tensor.shape, expected)) {
      fail(
        `tensor "${key}" has shape ${formatShape(tensor.shape)}, expected ${formatShape(expected)}`,
      );
    }
    return where;
  });
  const layerCount = model?.numHiddenLayers ?? Math.max(0, ...parsed.map((p) => p.layer + 1));
  const layers = Array.from({ length: layerCount }, (_, layer) => {
    const projs = PROJS.filter((proj) => parsed.some((p) => p.layer === layer && p.proj === proj));
    return Object.freeze(Object.fromEntries(projs.map((proj) => {
      const [keyA, keyB] = [adapterKey(layer, proj, "A"), adapterKey(layer, proj, "B")];
      const A = tensors.get(keyA) ?? fail(`"${keyB}" has no matching "${keyA}"`);
      const B = tensors.get(keyB) ?? fail(`"${keyA}" has no matching "${keyB}"`);
      return [proj, { A, B }];
    })) as LoraLayer);
  });
  return Object.freeze({ config, layers: Object.freeze(layers) });
};

/** The adapter's tensors under their PEFT names. */
export const adapterTensors = (adapter: Adapter): ReadonlyMap<string, HostTensor> =>
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
export const readAdapter = async (dir: string, model?: ModelConfig): Promise<Adapter> => {
  const configPath = join(dir, ADAPTER_CONFIG_FILE);
  const config = orThrow(decodeLoraConfig(await readJsonFile(configPath), configPath));
  const weightsPath = join(dir, ADAPTER_WEIGHTS_FILE);
  const { floats, ints } = await readSafetensors(weightsPath);
  const [intName] = ints.keys();
  if (intName !== undefined) {
    throw new Error(
      `${weightsPath}: tensor "${intName}" is an integer tensor, adapters are floats`,
    );
  }
  return adapterFromTensors(config, floats, weightsPath, model);
};

/**
 * Writes `adapter_config.json` and `adapter_model.safetensors` (F32, so a save/load round trip
 * is bit-identical), each atomically, creating `dir` if needed.
 */
export const writeAdapter = async (dir: string, adapter: Adapter): Promise<void> => {
  const weightsPath = join(dir, ADAPTER_WEIGHTS_FILE);
  const tensors = adapterTensors(adapter);
  adapterFromTensors(adapter.config, tensors, weightsPath); // refuse to write what cannot be read
  await mkdir(dir, { recursive: true });
  await writeSafetensors(weightsPath, tensors, { metadata: { format: "pt" } });
  const json = JSON.stringify(encodeLoraConfig(adapter.config), null, 2) + "\n";
  await writeFileAtomic(join(dir, ADAPTER_CONFIG_FILE), json);
};
