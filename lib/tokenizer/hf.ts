/**
 * One Tokenizer interface over Hugging Face `tokenizer.json` + `tokenizer_config.json`:
 * the tokenization itself is `@huggingface/tokenizers` (never hand-written BPE), chat
 * templates are rendered by `@huggingface/jinja`, as transformers does in Python, under a
 * budget (lib/tokenizer/template.ts). The vocabulary is checked first (lib/tokenizer/vocab.ts).
 */
import { Tokenizer as HfTokenizerImpl } from "@huggingface/tokenizers";
import { Template } from "@huggingface/jinja";
import * as t from "io-ts";
import { decodeWith, foreignMessage, named, NonNegativeInt, orThrow } from "../io/json_codec.ts";
import { renderTemplate } from "./template.ts";
import { validateVocabulary } from "./vocab.ts";

/** One turn of a conversation: a role (system, user, assistant) and its text. */
export type ChatMessage = { readonly role: string; readonly content: string };

/**
 * Text to ids and back, and the chat template, over a Hugging Face tokenizer.json or the character
 * tokenizer.
 */
export interface Tokenizer {
  /** Number of token ids (largest id + 1, added tokens included); a model may pad beyond it. */
  readonly vocabSize: number;
  /** The end-of-sequence id (a sampling stop token). */
  readonly eosTokenId: number;
  /** The beginning-of-sequence id, when the tokenizer has one. */
  readonly bosTokenId: number | null;
  /** `pad_token`, else the EOS token. */
  readonly padTokenId: number;
  /** Default: no special tokens added (chat-templated text already carries them). */
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  /** Default: special tokens skipped. Ids without a token (e.g. padded embedding rows) are dropped. */
  decode(ids: readonly number[], opts?: { skipSpecialTokens?: boolean }): string;
  /** Default: with the generation prompt (the assistant turn's opening). */
  applyChatTemplate(
    messages: readonly ChatMessage[],
    opts?: { addGenerationPrompt?: boolean },
  ): string;
  /** The two JSON documents `saveTokenizer` writes; shared, do not mutate. */
  toJSON(): { tokenizer: object; config: object };
}

/**
 * File names used in error messages (full paths when loaded from a directory); `chatTemplate`
 * names the file the template came from when it is not the config (`chat_template.jinja`).
 */
export type TokenizerFileNames = {
  readonly tokenizer: string;
  readonly config: string;
  readonly chatTemplate?: string;
};

const DEFAULT_FILE_NAMES: TokenizerFileNames = {
  tokenizer: "tokenizer.json",
  config: "tokenizer_config.json",
};

/** Older configs store special tokens as serialized AddedToken objects rather than strings. */
// Unions are named directly (not via `named`) so decode errors report the union as a whole.
const TokenName = t.union(
  [t.string, t.type({ content: t.string })],
  "a token string or {content: string}",
);
type TokenName = t.TypeOf<typeof TokenName>;
const OptionalTokenName = t.union(
  [TokenName, t.null, t.undefined],
  "a token string, {content: string} or null",
);

const NamedTemplates = t.array(t.type({ name: t.string, template: t.string }));

const TokenizerConfigCodec = named(
  t.partial({
    bos_token: OptionalTokenName,
    eos_token: OptionalTokenName,
    pad_token: OptionalTokenName,
    chat_template: t.union(
      [t.string, NamedTemplates, t.null],
      "a template string or a list of {name, template}",
    ),
  }),
  "an object",
);

const TokenizerJsonCodec = named(
  t.type({
    model: named(t.UnknownRecord, "an object"),
    added_tokens: t.array(t.type({ id: NonNegativeInt, content: t.string, special: t.boolean })),
  }),
  "an object",
);
type AddedTokens = t.TypeOf<typeof TokenizerJsonCodec>["added_tokens"];

const tokenText = (name: TokenName): string => typeof name === "string" ? name : name.content;

/** Used only when the config names no eos_token: the usual end-of-text special tokens. */
const CONVENTIONAL_EOS = ["<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|eos|>"];

const conventionalEos = (added: AddedTokens): string | undefined =>
  added.find((token) => token.special && CONVENTIONAL_EOS.includes(token.content))?.content;

/** A list of templates (transformers' multi-template configs) contributes its "default" one. */
const chatTemplateSource = (
  template: string | t.TypeOf<typeof NamedTemplates> | null | undefined,
): string | undefined =>
  typeof template === "string"
    ? template
    : template?.find((entry) => entry.name === "default")?.template;

/**
 * Every `*_token` string in the config (bos_token, eos_token, pad_token, unk_token, ...), so
 * templates that reference any of them render as in transformers.
 */
const specialTokenVariables = (config: object): Record<string, string> =>
  Object.fromEntries(
    Object.entries(config)
      .filter(([key, value]) => key.endsWith("_token") && TokenName.is(value))
      .map(([key, value]) => [key, tokenText(value as TokenName)]),
  );

/**
 * Parsed once up front; a template the engine rejects fails only when it is used. Errors name
 * the template's own file when it has one, else the config's field.
 */
const compileChatTemplate = (
  source: string | undefined,
  files: TokenizerFileNames,
): () => Template => {
  if (source === undefined) {
    return () => {
      throw new Error(`${files.config}: no chat_template (nor a chat_template.jinja file)`);
    };
  }
  try {
    const template = new Template(source);
    return () => template;
  } catch (e) {
    const where = files.chatTemplate ?? `${files.config}: field "chat_template"`;
    const message = foreignMessage(e);
    return () => {
      throw new Error(`${where}: ${message}`);
    };
  }
};

const constructImpl = (tokenizerJson: object, config: object, file: string): HfTokenizerImpl => {
  try {
    return new HfTokenizerImpl(tokenizerJson, config);
  } catch (e) {
    throw new Error(`${file}: ${foreignMessage(e)}`);
  }
};

/**
 * A Tokenizer from parsed `tokenizer.json` and `tokenizer_config.json` objects. Throws an error
 * naming the file and field when either is malformed or names a token missing from the vocab.
 */
export const hfTokenizer = (
  tokenizerJson: unknown,
  configJson: unknown = {},
  files: TokenizerFileNames = DEFAULT_FILE_NAMES,
): Tokenizer => {
  const json = orThrow(decodeWith(TokenizerJsonCodec, tokenizerJson, files.tokenizer));
  const config = orThrow(decodeWith(TokenizerConfigCodec, configJson, files.config));
  validateVocabulary(json.model, json.added_tokens, files.tokenizer);
  const impl = constructImpl(json, configJson as object, files.tokenizer);

  const idOf = (field: string, token: string): number => {
    const id = impl.token_to_id(token);
    if (id === undefined) {
      const quoted = JSON.stringify(token);
      throw new Error(
        `${files.config}: field "${field}": token ${quoted} is not in ${files.tokenizer}`,
      );
    }
    return id;
  };
  const optionalIdOf = (field: string, name: TokenName | null | undefined): number | null =>
    name == null ? null : idOf(field, tokenText(name));

  const eosName = config.eos_token ?? conventionalEos(json.added_tokens);
  if (eosName == null) {
    throw new Error(`${files.config}: field "eos_token": missing, and no conventional EOS token`);
  }
  const eosTokenId = idOf("eos_token", tokenText(eosName));
  const chatTemplate = compileChatTemplate(chatTemplateSource(config.chat_template), files);
  const templateFile = files.chatTemplate ?? files.config;
  const templateTokens = specialTokenVariables(configJson as object);

  return {
    // After construction the model's id -> token table covers the added tokens too.
    vocabSize: impl.model!.vocab.length,
    eosTokenId,
    bosTokenId: optionalIdOf("bos_token", config.bos_token),
    padTokenId: optionalIdOf("pad_token", config.pad_token) ?? eosTokenId,
    encode: (text, opts = {}) =>
      impl.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false }).ids,
    decode: (ids, opts = {}) => {
      const known = ids.filter((id) => impl.id_to_token(id) !== undefined);
      // The library rejects an empty list; an empty completion is ordinary here.
      return known.length === 0
        ? ""
        : impl.decode(known, { skip_special_tokens: opts.skipSpecialTokens ?? true });
    },
    applyChatTemplate: (messages, opts = {}) =>
      renderTemplate(chatTemplate(), {
        ...templateTokens,
        messages,
        add_generation_prompt: opts.addGenerationPrompt ?? true,
      }, templateFile),
    toJSON: () => ({ tokenizer: tokenizerJson as object, config: configJson as object }),
  };
};
