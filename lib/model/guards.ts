/**
 * Runtime checks at the public entry points (generate, logits, evaluate, mergeAdapter,
 * saveAdapter), so that a wrong object fails at once with a message saying what was expected
 * and how to get it, even in plain JavaScript without a type checker.
 * @module
 */
import type { Model } from "./load.ts";

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null;

const describe = (x: unknown): string =>
  x === null
    ? "null"
    : Array.isArray(x)
    ? "an array"
    : typeof x === "object"
    ? `an object with ${Object.keys(x).join(", ") || "no fields"}`
    : typeof x === "string"
    ? `the string ${JSON.stringify(x.slice(0, 60))}`
    : typeof x;

/** Throws unless `model` has a model config and base weights (what loadModel returns). */
export const checkModel = (where: string, model: unknown): void => {
  const hint = "load one with await loadModel(dir, { backend })";
  if (!isObject(model)) {
    throw new TypeError(`${where}: expected a model (${hint}), got ${describe(model)}`);
  }
  if (!isObject(model.config) || typeof model.config.vocabSize !== "number") {
    throw new TypeError(`${where}: model.config is not a model config (${hint})`);
  }
  if (!isObject(model.params) || !Array.isArray(model.params.layers)) {
    throw new TypeError(`${where}: model.params are not decoder weights (${hint})`);
  }
};

/**
 * Throws unless `adapter` is null/undefined or a LoraAdapter (PEFT config + weights on a device)
 * that fits `model` when given; a PeftAdapter (host tensors) or the forward's AppliedLora is
 * named as such.
 */
export const checkLoraAdapter = (
  where: string,
  adapter: unknown,
  model?: Pick<Model, "config">,
): void => {
  if (adapter === null || adapter === undefined) return;
  const expected = "a LoraAdapter { config, weights } (await loadAdapter(dir, model))";
  if (!isObject(adapter)) {
    throw new TypeError(`${where}: adapter must be ${expected}, got ${describe(adapter)}`);
  }
  if (Array.isArray(adapter.layers) && !("weights" in adapter)) {
    throw new TypeError(
      `${where}: adapter is a PeftAdapter (host tensors, as readAdapter and train() return it); ` +
        `put it on the model's device first: loadAdapter(dir, model), or ` +
        `{ config: peft.config, weights: adapterToDevice(model.backend, peft) }`,
    );
  }
  if ("scaling" in adapter && !("config" in adapter)) {
    throw new TypeError(
      `${where}: adapter is an AppliedLora (weights + scaling, the forward's form); ` +
        `pass ${expected} instead`,
    );
  }
  const { config, weights } = adapter;
  if (!isObject(config) || typeof config.r !== "number") {
    throw new TypeError(`${where}: adapter.config is not a PEFT LoRA config; expected ${expected}`);
  }
  if (!isObject(weights) || !Array.isArray(weights.layers)) {
    throw new TypeError(`${where}: adapter.weights has no layers; expected ${expected}`);
  }
  const layers = model?.config.numHiddenLayers ?? weights.layers.length;
  if (weights.layers.length !== layers) {
    throw new TypeError(
      `${where}: the adapter has ${weights.layers.length} layers but the model has ${layers}`,
    );
  }
};
