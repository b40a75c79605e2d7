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

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

export interface Recorded {
  readonly path: string;
  readonly body: unknown;
}

/**
 * A tiny local HTTP server: `answer` maps each POST (path, JSON body) to a status and a body
 * (object -> JSON, string -> text), or "hang" (never answers) or "reset" (drops the connection).
 */
export const fakeServer = async (
  answer: (path: string, body: unknown) => { status?: number; body: unknown } | "hang" | "reset",
): Promise<{ url: string; requests: Recorded[]; close: () => Promise<void> }> => {
  const requests: Recorded[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    let text = "";
    req.on("data", (d) => (text += d));
    req.on("end", () => {
      const body = text ? JSON.parse(text) : null;
      requests.push({ path: req.url ?? "", body });
      const a = answer(req.url ?? "", body);
      if (a === "hang") return;
      if (a === "reset") return void req.socket.destroy();
      const json = typeof a.body !== "string";
      res.writeHead(a.status ?? 200, { "content-type": json ? "application/json" : "text/plain" });
      res.end(json ? JSON.stringify(a.body) : a.body);
    });
  };
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
};
