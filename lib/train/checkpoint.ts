/**
 * Checkpoints (file effects): everything a run needs to continue bit-identically — the
 * trainable weights (a PEFT adapter, or a full model directory), the optimizer state, the
 * PRNG key, the step, the data cursor, the cost ledger and the config. A checkpoint is
 * written into a temporary folder and renamed into place, so a crash never leaves half of one.
 */
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { isTensor } from "../autodiff/grad.ts";
import { type Tensor, toArray } from "../autodiff/tensor.ts";
import type { Backend } from "../tensor/backends.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { encodeModelConfig } from "../io/hf_config.ts";
import { readJsonFile } from "../io/json_codec.ts";
import { readModelWeights } from "../io/model_weights.ts";
import { type LoraConfig, readAdapter, writeAdapter } from "../io/peft.ts";
import { readSafetensors, writeSafetensors, writeSafetensorsStreamed } from "../io/safetensors.ts";
import { adapterToDevice, adapterToHost } from "../model/adapter.ts";
import type { ModelConfig } from "../model/decoder.ts";
import { paramsFromWeights, weightsFromParams } from "../model/weights.ts";
import { optimStateFromHost } from "../optim/mod.ts";
import type { Key } from "../random/prng.ts";
import { treeFlatten, treeMap } from "../tree.ts";
import type { TrainConfig } from "./config.ts";
import type { Ledger } from "./ledger.ts";
import type { Trainable } from "./policy.ts";
import type { TrainState } from "./step.ts";

const STATE_FILE = "trainer_state.json";
const OPTIMIZER_FILE = "optimizer.safetensors";
const PREFIX = "checkpoint-";
/**
 * The layout of the optimizer state. 2: AdamW as chain(scaleByAdam, addDecayedWeights,
 * scaleByLearningRate), whose state differs from the single transform of format 1 (unmarked).
 */
const FORMAT = 2;

interface SavedState {
  readonly format: number;
  readonly step: number;
  readonly key: Key;
  readonly cursor: number;
  readonly ledger: Ledger;
  readonly badSteps: number;
  readonly skippedSteps: number;
  readonly kind: Trainable["kind"];
  /** The optimizer state's structure; tensors are stored in optimizer.safetensors by path. */
  readonly optimizer: unknown;
  readonly config: TrainConfig;
}

/** Where the checkpoint of `step` lives under `root` (checkpoint-N, as TRL names them). */
export const checkpointDir = (root: string, step: number): string => join(root, `${PREFIX}${step}`);

/**
 * Writes a checkpoint atomically: PEFT adapter (or full weights), optimizer state, key, step, data
 * cursor, ledger and config.
 */
export const saveCheckpoint = async (
  root: string,
  state: TrainState,
  info: {
    readonly config: TrainConfig;
    readonly modelConfig: ModelConfig;
    readonly lora: LoraConfig | null;
  },
): Promise<string> => {
  const final = checkpointDir(root, state.step);
  const tmp = join(root, `.tmp-${PREFIX}${state.step}`);
  await rm(tmp, { recursive: true, force: true }); // left by a crash mid-write
  await mkdir(tmp, { recursive: true });
  const t = state.trainable;
  if (t.kind === "lora") {
    await writeAdapter(tmp, await adapterToHost(info.lora!, t.weights));
  } else {
    await writeSafetensors(
      join(tmp, "model.safetensors"),
      await weightsFromParams(info.modelConfig, t.params),
    );
    await writeFileAtomic(
      join(tmp, "config.json"),
      JSON.stringify(encodeModelConfig(info.modelConfig), null, 2),
    );
  }
  // Step counts are numbers beside the tensors; they go to the JSON skeleton below. Each moment
  // is read from the device only when written (the whole state on the host at once, 0.3 GB at
  // the 1.5B shape, set the probe's peak).
  const isLeaf = (x: unknown): x is Tensor | number => typeof x === "number" || isTensor(x);
  const tensors = treeFlatten(state.optState, isLeaf).filter((e): e is [string, Tensor] =>
    isTensor(e[1])
  );
  const notFloat = tensors.find(([, x]) => x.dtype !== "float32");
  if (notFloat) throw new Error(`saveCheckpoint: optimizer state ${notFloat[0]} is not float32`);
  await writeSafetensorsStreamed(
    join(tmp, OPTIMIZER_FILE),
    new Map(tensors.map(([name, x]) => [name, {
      shape: x.shape,
      read: async () => (await toArray(x)) as Float32Array,
    }])),
  );
  const saved: SavedState = {
    format: FORMAT,
    step: state.step,
    key: state.key,
    cursor: state.cursor,
    ledger: state.ledger,
    badSteps: state.badSteps,
    skippedSteps: state.skippedSteps,
    kind: t.kind,
    optimizer: treeMap(state.optState, isTensor, (_, path) => ({ $tensor: path })),
    config: info.config,
  };
  await writeFileAtomic(join(tmp, STATE_FILE), JSON.stringify(saved, null, 2));
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  return final;
};

/** Every checkpoint under `root`, newest first (a resume falls back along this list). */
export const checkpointsNewestFirst = async (root: string): Promise<readonly string[]> => {
  const names = await readdir(root).catch(() => [] as string[]);
  return names.filter((n) => n.startsWith(PREFIX)).map((n) => Number(n.slice(PREFIX.length)))
    .filter(Number.isInteger).sort((a, b) => b - a).map((step) => checkpointDir(root, step));
};

/** The newest complete checkpoint under `root`, or null. */
export const latestCheckpoint = async (root: string): Promise<string | null> =>
  (await checkpointsNewestFirst(root))[0] ?? null;

const isTensorRef = (x: unknown): x is { $tensor: string } =>
  x !== null && typeof x === "object" && typeof (x as { $tensor?: unknown }).$tensor === "string";

/**
 * Restores a state saved by saveCheckpoint onto `backend`. `trainable` supplies what the
 * files do not store (LoRA scaling and dropout); its weights are replaced.
 */
export const loadCheckpoint = async (
  dir: string,
  backend: Backend,
  modelConfig: ModelConfig,
  trainable: Trainable,
): Promise<{ state: TrainState; config: TrainConfig }> => {
  const saved = (await readJsonFile(join(dir, STATE_FILE))) as SavedState;
  if (saved.format !== FORMAT) {
    throw new Error(
      `${join(dir, STATE_FILE)}: checkpoint format ${saved.format ?? 1}, this version reads ` +
        `format ${FORMAT} (the optimizer state's layout changed); start the run afresh`,
    );
  }
  if (saved.kind !== trainable.kind) {
    throw new Error(
      `${dir}: checkpoint trains "${saved.kind}" weights, this run trains "${trainable.kind}"`,
    );
  }
  const restored: Trainable = trainable.kind === "lora"
    ? { ...trainable, weights: adapterToDevice(backend, await readAdapter(dir, modelConfig)) }
    : {
      kind: "full",
      params: paramsFromWeights(backend, modelConfig, await readModelWeights(dir), dir),
    };
  const { floats } = await readSafetensors(join(dir, OPTIMIZER_FILE));
  const hostOpt = treeMap(saved.optimizer, isTensorRef, (ref) => {
    const t = floats.get(ref.$tensor);
    if (!t) throw new Error(`${join(dir, OPTIMIZER_FILE)}: missing tensor "${ref.$tensor}"`);
    return t;
  });
  return {
    config: saved.config,
    state: {
      step: saved.step,
      trainable: restored,
      optState: optimStateFromHost(backend, hostOpt),
      key: saved.key,
      cursor: saved.cursor,
      ledger: saved.ledger,
      badSteps: saved.badSteps,
      skippedSteps: saved.skippedSteps,
    },
  };
};
