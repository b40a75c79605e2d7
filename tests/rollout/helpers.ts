/** Shared pieces of the rollout tests: a vocabulary for the tokenizer-less fixtures. */
import { type GgufVocabulary, ggufVocabulary } from "../../lib/io/gguf.ts";

/**
 * The fixtures ship no tokenizer: ids 0-2 become control tokens (pad, bos 1, eos 2), the rest
 * printable characters. Prompts go to the server as ids, so only the ids matter.
 */
export const fixtureVocabulary = (vocabSize: number): GgufVocabulary => {
  const special = ["<pad>", "<bos>", "<eos>"];
  const vocab = Object.fromEntries(
    Array.from({ length: vocabSize - special.length }, (_, i) => [
      String.fromCharCode(0x21 + i),
      special.length + i,
    ]),
  );
  const json = {
    model: { type: "BPE", vocab, merges: [] },
    added_tokens: special.map((content, id) => ({ id, content, special: true })),
  };
  return ggufVocabulary(json, vocabSize, { bos: 1, eos: [2], pad: 0 });
};
