/** Shared by the lib/io tests: fixture paths, temp dirs, and error-message assertions. */
import * as assert from "uvu/assert";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const fixture = (relative: string): string =>
  fileURLToPath(new URL(`../fixtures/${relative}`, import.meta.url));

/** Runs `use` with a fresh temp directory, removed afterwards. */
export const withTempDir = async <A>(use: (dir: string) => Promise<A>): Promise<A> => {
  const dir = await mkdtemp(join(tmpdir(), "tina-io-"));
  try {
    return await use(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

/** Asserts that `action` rejects with a message containing every one of `parts`. */
export const rejectsWith = async (
  action: () => Promise<unknown> | unknown,
  parts: readonly string[],
): Promise<void> => {
  let message: string | null = null;
  try {
    await action();
  } catch (e) {
    message = (e as Error).message;
  }
  assert.ok(message !== null, `expected an error mentioning ${parts.join(", ")}`);
  for (const part of parts) {
    assert.ok(
      message!.includes(part),
      `error ${JSON.stringify(message)} lacks ${JSON.stringify(part)}`,
    );
  }
};
