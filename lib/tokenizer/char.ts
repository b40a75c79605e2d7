/**
 * A character-level tokenizer for the built-in arithmetic reasoning task, emitted as genuine
 * Hugging Face files (so it saves, loads and runs through the same code as a real model's):
 * a BPE model with no merges, which makes every character (code point) one token.
 *
 * - Characters outside the alphabet encode to the unknown token (`<|unk|>` by default), which
 *   is special: decoding with special tokens skipped drops it.
 * - Word tokens (the `<think>`/`<answer>` tags) are added tokens that are NOT special, so
 *   decoding keeps them and rewards see the tags.
 * - `decode(encode(s)) === s` for every string over the alphabet and word tokens that does not
 *   contain the text of a special token.
 */
import { REASONING_TAGS } from "../format_tags.ts";
import { hfTokenizer, type Tokenizer } from "./hf.ts";

/** The special tokens of a character tokenizer and its chat template. */
export type CharSpecialTokens = {
  readonly bos: string;
  readonly eos: string;
  readonly pad: string;
  readonly unk: string;
  readonly system: string;
  readonly user: string;
  readonly assistant: string;
};

/**
 * What a character tokenizer is made of: an alphabet, special tokens, optional whole-word tokens.
 */
export type CharTokenizerSpec = {
  /** Each code point becomes one token, in this order. */
  readonly alphabet: string;
  readonly specialTokens?: CharSpecialTokens;
  readonly wordTokens?: readonly string[];
};

/** The special tokens the tiny model was trained with. */
export const DEFAULT_SPECIAL_TOKENS: CharSpecialTokens = {
  bos: "<|bos|>",
  eos: "<|eos|>",
  pad: "<|pad|>",
  unk: "<|unk|>",
  system: "<|system|>",
  user: "<|user|>",
  assistant: "<|assistant|>",
};

const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
/** Every character the built-in arithmetic task uses (the tiny model's vocabulary). */
export const TASK_ALPHABET = `${LETTERS}0123456789 +-*/=()?.,:!\n`;

type AddedToken = {
  readonly id: number;
  readonly content: string;
  readonly single_word: false;
  readonly lstrip: false;
  readonly rstrip: false;
  readonly normalized: false;
  readonly special: boolean;
};

const addedToken = (content: string, id: number, special: boolean): AddedToken => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special,
});

/** Rejects empty or repeated tokens: each would silently shadow another id. */
const checkDistinct = (tokens: readonly string[]): void => {
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token === "") throw new Error("makeCharTokenizer: empty token");
    if (seen.has(token)) {
      throw new Error(`makeCharTokenizer: token ${JSON.stringify(token)} appears twice`);
    }
    seen.add(token);
  }
};

/**
 * `{bos}<|system|>{system}\n<|user|>{user}\n<|assistant|>{answer}{eos}`; the generation prompt
 * ends at the assistant marker (the model must produce `<think>` itself).
 */
const chatTemplate = (special: CharSpecialTokens): string => {
  const roles = [
    ["system", special.system],
    ["user", special.user],
    ["assistant", special.assistant],
  ] as const;
  const roleMarker = roles
    .map(([role, token], i) =>
      `{%- ${i === 0 ? "if" : "elif"} message.role == '${role}' -%}{{ ${JSON.stringify(token)} }}`
    )
    .join("");
  return [
    "{{- bos_token -}}",
    "{%- for message in messages -%}",
    `${roleMarker}{%- else -%}{{ raise_exception('unknown role: ' + message.role) }}{%- endif -%}`,
    "{{- message.content -}}",
    "{%- if message.role == 'assistant' -%}{{ eos_token }}{%- else -%}{{ '\\n' }}{%- endif -%}",
    "{%- endfor -%}",
    `{%- if add_generation_prompt -%}{{ ${JSON.stringify(special.assistant)} }}{%- endif -%}`,
  ].join("\n");
};

/** The `tokenizer.json` and `tokenizer_config.json` documents of a character tokenizer. */
export const charTokenizerFiles = (
  spec: CharTokenizerSpec,
): { readonly tokenizer: object; readonly config: object } => {
  const special = spec.specialTokens ?? DEFAULT_SPECIAL_TOKENS;
  const specialList = [
    special.pad,
    special.bos,
    special.eos,
    special.unk,
    special.system,
    special.user,
    special.assistant,
  ];
  const words = spec.wordTokens ?? [];
  const characters = Array.from(spec.alphabet);
  if (characters.length === 0) throw new Error("makeCharTokenizer: empty alphabet");
  const vocabList = [...specialList, ...words, ...characters];
  checkDistinct(vocabList);

  const added = [
    ...specialList.map((content, id) => addedToken(content, id, true)),
    ...words.map((content, i) => addedToken(content, specialList.length + i, false)),
  ];
  const bosId = specialList.indexOf(special.bos);
  const bos = { SpecialToken: { id: special.bos, type_id: 0 } };
  const tokenizer = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: null,
    // addSpecialTokens: true prepends BOS, as Llama-style tokenizers do.
    post_processor: {
      type: "TemplateProcessing",
      single: [bos, { Sequence: { id: "A", type_id: 0 } }],
      pair: [bos, { Sequence: { id: "A", type_id: 0 } }, { Sequence: { id: "B", type_id: 1 } }],
      special_tokens: { [special.bos]: { id: special.bos, ids: [bosId], tokens: [special.bos] } },
    },
    decoder: { type: "Fuse" },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: special.unk,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(vocabList.map((token, id) => [token, id])),
      merges: [],
    },
  };
  const config = {
    tokenizer_class: "PreTrainedTokenizerFast",
    bos_token: special.bos,
    eos_token: special.eos,
    pad_token: special.pad,
    unk_token: special.unk,
    additional_special_tokens: [special.system, special.user, special.assistant],
    clean_up_tokenization_spaces: false,
    chat_template: chatTemplate(special),
  };
  return { tokenizer, config };
};

/**
 * A character tokenizer (one token per code point) with a chat template, as a real Hugging Face
 * tokenizer.
 */
export const makeCharTokenizer = (spec: CharTokenizerSpec): Tokenizer => {
  const { tokenizer, config } = charTokenizerFiles(spec);
  return hfTokenizer(tokenizer, config);
};

/** Letters, digits, ` +-*\/=()?.,:!` and newline, plus the reasoning tags: 87 tokens. */
export const defaultTaskTokenizer = (): Tokenizer =>
  makeCharTokenizer({ alphabet: TASK_ALPHABET, wordTokens: REASONING_TAGS });
