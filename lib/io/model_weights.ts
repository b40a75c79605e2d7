/**
 * A Hugging Face model directory's weights: `model.safetensors`, or shards listed by
 * `model.safetensors.index.json` (its `weight_map`: tensor name -> shard file). Headers are read
 * first, so names and shapes can be checked before any weight is loaded.
 */
import * as t from "io-ts";
import { stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { type ModelConfig, readModelConfig } from "./hf_config.ts";
import type { HostTensor } from "./host_tensor.ts";
import { quote, readJsonWith, refine } from "./json_codec.ts";
import {
  openSafetensors,
  type ReadOptions,
  readSafetensors,
  type TensorInfo,
} from "./safetensors.ts";
import { validateWeights } from "./weight_layout.ts";

/** The weights file of an unsharded model. */
export const SINGLE_FILE = "model.safetensors";
/** The index of a sharded model (tensor name → shard file). */
export const INDEX_FILE = "model.safetensors.index.json";

/** A shard must sit in the model directory itself: no paths that could point elsewhere. */
const ShardFileName = refine(
  t.string,
  (name) => name !== "" && name !== "." && name !== ".." && basename(name) === name,
  "a file name inside the model directory",
);
const ShardIndexCodec = t.type({ weight_map: t.record(t.string, ShardFileName) });

/**
 * A model's weights, indexed but not yet loaded: every tensor's name, dtype and shape from the
 * headers alone (cheap, to check against a config first). `source` names them in errors;
 * `options` apply to every read.
 */
export type ModelWeightsIndex = {
  readonly source: string;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly options: ReadOptions;
  read(name: string): Promise<HostTensor>;
};

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

const openSharded = async (dir: string, options: ReadOptions): Promise<ModelWeightsIndex> => {
  const indexPath = join(dir, INDEX_FILE);
  const { weight_map } = await readJsonWith(ShardIndexCodec, indexPath);
  const shardNames = [...new Set(Object.values(weight_map))];
  const shards = new Map(
    await Promise.all(shardNames.map(async (name) => {
      const shard = await openSafetensors(join(dir, name), options).catch((e: Error) => {
        throw new Error(`${indexPath}: shard "${name}": ${e.message}`);
      });
      return [name, shard] as const;
    })),
  );
  const located = Object.entries(weight_map).map(([tensor, shardName]) => {
    const shard = shards.get(shardName)!;
    const info = shard.tensors.get(tensor);
    if (info === undefined) {
      throw new Error(`${shard.file}: no tensor ${quote(tensor)} (${INDEX_FILE} places it there)`);
    }
    return [tensor, { info, shard }] as const;
  });
  const byName = new Map(located);
  return {
    source: indexPath,
    tensors: new Map(located.map(([tensor, { info }]) => [tensor, info])),
    options,
    read: (name) => {
      const found = byName.get(name);
      if (found === undefined) {
        throw new Error(`${indexPath}: no tensor ${quote(name)} in weight_map`);
      }
      return found.shard.read(name);
    },
  };
};

/** Opens `model.safetensors` if present, else the sharded index; reads only headers. */
export const openModelWeights = async (
  dir: string,
  options: ReadOptions = {},
): Promise<ModelWeightsIndex> => {
  const isDirectory = await stat(dir).then((s) => s.isDirectory(), () => null);
  if (isDirectory === false) throw new Error(`${dir}: is a file, expected a model directory`);
  const single = join(dir, SINGLE_FILE);
  if (await exists(single)) {
    const file = await openSafetensors(single, options);
    return { source: single, tensors: file.tensors, options, read: file.read };
  }
  if (await exists(join(dir, INDEX_FILE))) return openSharded(dir, options);
  throw new Error(`${dir}: no ${SINGLE_FILE} or ${INDEX_FILE}`);
};

/** Loads every tensor of an index, one file handle per file, widened to f32. */
export const readIndexedWeights = async (
  index: ModelWeightsIndex,
): Promise<ReadonlyMap<string, HostTensor>> => {
  const namesByFile = new Map<string, string[]>(); // Map.groupBy is missing on Node 20
  for (const [name, { file }] of index.tensors) {
    const names = namesByFile.get(file);
    // push, not concat: copying the list per tensor made 200,000 tensors take minutes.
    if (names === undefined) namesByFile.set(file, [name]);
    else names.push(name);
  }
  const weights = new Map<string, HostTensor>();
  for (const [file, names] of namesByFile) {
    const { floats, ints } = await readSafetensors(file, names, index.options);
    const [intName] = ints.keys();
    if (intName !== undefined) {
      throw new Error(
        `${file}: tensor ${quote(intName)} is an integer tensor, model weights are floats`,
      );
    }
    for (const [name, tensor] of floats) weights.set(name, tensor);
  }
  return weights;
};

/** Every weight of a model directory (single file or shards), widened to f32. */
export const readModelWeights = async (
  dir: string,
  options: ReadOptions = {},
): Promise<ReadonlyMap<string, HostTensor>> =>
  readIndexedWeights(await openModelWeights(dir, options));

/**
 * A model directory's config and weights, with every expected tensor's presence and shape
 * checked against the config before any weight is loaded.
 */
export const readModel = async (
  dir: string,
  options: ReadOptions = {},
): Promise<{ readonly config: ModelConfig; readonly weights: ReadonlyMap<string, HostTensor> }> => {
  const config = await readModelConfig(dir);
  const index = await openModelWeights(dir, options);
  validateWeights(config, index.tensors, index.source);
  return { config, weights: await readIndexedWeights(index) };
};
