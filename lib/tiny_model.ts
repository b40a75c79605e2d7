/**
 * Where the shipped tiny model lives: `models/tiny-arith`, a 0.2M-parameter Qwen2-architecture
 * model with a character tokenizer, trained from scratch on the built-in arithmetic task. It
 * travels with the npm package (and a checkout), so examples and tests need no download.
 * @module
 */
import { fileURLToPath } from "node:url";

/**
 * The tiny model's directory on this machine (load it with `loadModel` and `loadTokenizer`).
 * Throws when this module was loaded from a URL that is not a local file (e.g. straight from
 * JSR over HTTPS): download the directory and pass its path instead.
 */
export const tinyModelDir = (): string => {
  const url = new URL("../models/tiny-arith/", import.meta.url);
  if (url.protocol !== "file:") {
    throw new Error(
      `tinyModelDir: tina-ts was loaded from ${url.origin}, not from local files; ` +
        `the tiny model is in the npm package and the repository (models/tiny-arith)`,
    );
  }
  return fileURLToPath(url);
};
