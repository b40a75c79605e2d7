export { type ChatMessage, hfTokenizer, type Tokenizer, type TokenizerFileNames } from "./hf.ts";
export { loadTokenizer, saveTokenizer } from "./load.ts";
export {
  type CharSpecialTokens,
  charTokenizerFiles,
  type CharTokenizerSpec,
  DEFAULT_SPECIAL_TOKENS,
  defaultTaskTokenizer,
  makeCharTokenizer,
  TASK_ALPHABET,
} from "./char.ts";
export { REASONING_TAGS } from "../format_tags.ts";
