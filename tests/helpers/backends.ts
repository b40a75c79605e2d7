/**
 * The backends a test file should cover on this runtime: TINA_BACKENDS (comma list) if set,
 * else every backend that loads here. The pure-TS backend is always first.
 */
import { loadBackend } from "../../lib/tensor/backends.ts";
import { backendNames } from "../../lib/tensor/kernels.ts";

export const testBackends = async (): Promise<string[]> => {
  const wanted =
    (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env
      .TINA_BACKENDS?.split(",") ?? [...backendNames];
  const ok: string[] = [];
  for (const name of wanted) {
    try {
      await loadBackend(name);
      ok.push(name);
    } catch (e) {
      console.log(`(backend ${name} unavailable here: ${(e as Error).message.split("\n")[0]})`);
    }
  }
  return ok;
};
