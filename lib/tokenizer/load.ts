/**
 * Tokenizer files in a Hugging Face model directory: `tokenizer.json`, optional
 * `tokenizer_config.json`, optional `chat_template.jinja` (newer transformers keep the chat
 * template there; when present it wins over the config's `chat_template`).
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../io/atomic.ts";
import { orThrow, parseJson, readJsonFile, readOptionalText } from "../io/json_codec.ts";
import { hfTokenizer, type Tokenizer } from "./hf.ts";

const isRecord = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u);

/**
 * The tokenizer of a Hugging Face directory: tokenizer.json, with tokenizer_config.json's chat
 * template and special tokens.
 */
export const loadTokenizer = async (dir: string): Promise<Tokenizer> => {
  const tokenizerPath = join(dir, "tokenizer.json");
  const configPath = join(dir, "tokenizer_config.json");
  const templatePath = join(dir, "chat_template.jinja");
  const [tokenizerJson, configText, templateText] = await Promise.all([
    readJsonFile(tokenizerPath),
    readOptionalText(configPath, "a JSON file"),
    readOptionalText(templatePath, "a Jinja template file"),
  ]);
  const config = configText === null ? {} : orThrow(parseJson(configText, configPath));
  // A malformed config is left as is, for the decoder to report.
  const withTemplate = templateText === null || !isRecord(config)
    ? config
    : { ...config, chat_template: templateText };
  return hfTokenizer(tokenizerJson, withTemplate, {
    tokenizer: tokenizerPath,
    config: configPath,
    ...(templateText === null ? {} : { chatTemplate: templatePath }),
  });
};

/** Writes both files (the chat template inside the config), each atomically. */
export const saveTokenizer = async (dir: string, tokenizer: Tokenizer): Promise<void> => {
  const { tokenizer: tokenizerJson, config } = tokenizer.toJSON();
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, "tokenizer.json"), JSON.stringify(tokenizerJson, null, 2));
  await writeFileAtomic(join(dir, "tokenizer_config.json"), JSON.stringify(config, null, 2));
};
