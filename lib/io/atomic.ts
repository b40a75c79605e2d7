/**
 * Atomic file writes: readers see the old file or the complete new one, never a torn write,
 * even if the process dies mid-way (checkpoints, adapters, model files).
 */
import { mkdtemp, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** What writeFileAtomic writes: text, bytes, or chunks of bytes (made as they are written). */
export type FileContent =
  | string
  | Uint8Array
  | Iterable<Uint8Array>
  | AsyncIterable<Uint8Array>;

const chunksOf = (content: FileContent): Iterable<Uint8Array> | AsyncIterable<Uint8Array> =>
  typeof content === "string"
    ? [new TextEncoder().encode(content)]
    : content instanceof Uint8Array
    ? [content]
    : content;

/**
 * Writes `content` to a fresh temporary directory next to `path` (same file system, so the
 * rename is atomic), flushes it to disk, then renames it over `path`. An iterable of chunks is
 * written one chunk at a time, so a multi-GB file never needs one contiguous buffer.
 */
export const writeFileAtomic = async (path: string, content: FileContent): Promise<void> => {
  const tempDir = await mkdtemp(join(dirname(path), `.${basename(path)}.tmp-`));
  const tempFile = join(tempDir, basename(path));
  try {
    const handle = await open(tempFile, "w");
    try {
      for await (const chunk of chunksOf(content)) await writeAll(handle, chunk);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tempFile, path);
  } finally {
    await rm(tempDir, { recursive: true, force: true });
  }
};

type WritableHandle = Awaited<ReturnType<typeof open>>;

/** FileHandle.write may write less than asked (large chunks); loop until all is written. */
const writeAll = async (handle: WritableHandle, chunk: Uint8Array): Promise<void> => {
  for (let done = 0; done < chunk.length;) {
    const { bytesWritten } = await handle.write(chunk, done, chunk.length - done);
    done += bytesWritten;
  }
};
