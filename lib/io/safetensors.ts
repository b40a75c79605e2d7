/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header mapping tensor
 * names to {dtype, shape, data_offsets} (plus an optional `__metadata__` string map), then the
 * tensor bytes. Files are read header first, then one tensor at a time at its offset, so the
 * raw bytes of only one tensor exist beside the decoded ones (a model loaded onto a backend is
 * still held twice, on the host and on the device, until the host copies are dropped).
 *
 * A file is accepted only under the rules of the reference reader (the Rust `safetensors` crate,
 * `SafeTensors::read_metadata` and `Metadata::validate` in safetensors/src/tensor.rs):
 * - at least 8 bytes, and a header length of at most 100,000,000 bytes (`HeaderTooLarge`) that
 *   fits in the file (`InvalidHeaderLength`);
 * - a header that is UTF-8 (`InvalidHeader`) JSON (`InvalidHeaderDeserialization`) object whose
 *   `data_offsets` are exactly two non-negative integers (serde's `(usize, usize)`);
 * - tensors that, sorted by offsets, each begin where the previous one ended and end no earlier
 *   than they begin (`InvalidOffset`), so they cover the data section without overlap or hole;
 * - a byte length equal to the product of the shape times the dtype's size, without overflow
 *   (`TensorInvalidInfo`, `ValidationOverflow`), and a last tensor that ends at the end of the
 *   file (`MetadataIncompleteBuffer`).
 * Stricter than the reference: a tensor name listed twice is refused (JSON parsers, serde's and
 * JSON.parse alike, keep the last silently), as is a header nested deeper than a header can be
 * (serde stops at 128 levels). Float tensors are checked for NaN and infinities as they are read
 * (refused unless `allowNonFinite`), so a corrupt checkpoint never yields NaN logits later.
 * Every error names the file and, where there is one, the tensor, quoted at most
 * `MAX_QUOTED_CHARS` long.
 *
 * All supported hosts are little-endian, as is the format, so bytes are viewed directly as
 * typed arrays.
 */
import * as t from "io-ts";
import { isLeft } from "fp-ts/lib/Either.js";
import { open } from "node:fs/promises";
import { writeFileAtomic } from "./atomic.ts";
import { freeBuffer } from "./free_buffer.ts";
import { decodeBf16, decodeF16, encodeBf16, encodeF16 } from "./half_float.ts";
import { formatShape, type HostTensor, type IntHostTensor, numElements } from "./host_tensor.ts";
import {
  formatDecodeErrors,
  isRegularFile,
  NonNegativeInt,
  parseJson,
  quote,
  refine,
  scanJson,
} from "./json_codec.ts";

/** The dtypes read: floats (decoded to float32) and integers (I64 narrowed to int32). */
export type TensorDtype = "F32" | "F16" | "BF16" | "I32" | "I64";
/** The float dtypes a file may be written in. */
export type FloatDtype = "F32" | "F16" | "BF16";

const BYTES_PER_ELEMENT: Readonly<Record<TensorDtype, number>> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  I32: 4,
  I64: 8,
};

/** Above this a header is corrupt, not big (the reference implementation's limit too). */
export const MAX_HEADER_BYTES = 100_000_000;
/** `{name: {shape: [...]}}`: no valid header nests objects and lists deeper. */
const MAX_HEADER_DEPTH = 3;

/** How tensors are read. */
export type ReadOptions = {
  /** Load float tensors holding NaN or infinities instead of refusing them. */
  readonly allowNonFinite?: boolean;
};

const TensorEntryCodec = t.type({
  dtype: t.keyof(BYTES_PER_ELEMENT, "one of F32, F16, BF16, I32, I64"),
  shape: t.array(NonNegativeInt, "a list of non-negative integers"),
  data_offsets: refine(
    t.array(NonNegativeInt),
    (offsets) => offsets.length === 2,
    "[begin, end]: exactly two non-negative byte offsets",
  ),
});
const MetadataCodec = t.record(t.string, t.string, "a map of strings to strings");

/** Where a tensor lives: `byteOffset` is absolute within `file`. */
export type TensorInfo = {
  readonly file: string;
  readonly dtype: TensorDtype;
  readonly shape: readonly number[];
  readonly byteOffset: number;
  readonly byteLength: number;
};

/** The header's free-form string metadata (`__metadata__`). */
export type Metadata = Readonly<Record<string, string>>;

/** A parsed header: where each tensor lives in the file, and the metadata. */
export type SafetensorsHeader = {
  readonly file: string;
  readonly metadata: Metadata;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
};

/** A file's tensors, read: float ones as float32, integer ones as int32. */
export type SafetensorsContents = {
  readonly metadata: Metadata;
  readonly floats: ReadonlyMap<string, HostTensor>;
  readonly ints: ReadonlyMap<string, IntHostTensor>;
};

// A declaration (not an arrow) so that TypeScript narrows after `if (...) fail(...)`.
function fail(file: string, message: string): never {
  throw new Error(`${file}: ${message}`);
}

const tensorLabel = (name: string): string => `tensor ${quote(name)}`;

/** Reads the u64 header length; `prefix` holds the file's first 8 bytes. */
const headerLength = (prefix: Uint8Array, fileSize: number, file: string): number => {
  if (fileSize < 8) fail(file, `truncated: ${fileSize} bytes, too short for a safetensors file`);
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const length = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (length > MAX_HEADER_BYTES) {
    fail(file, `header length ${length} is above the ${MAX_HEADER_BYTES}-byte cap (corrupt file?)`);
  }
  if (8 + length > fileSize) {
    fail(file, `truncated: header length ${length} runs past the end of the ${fileSize}-byte file`);
  }
  return length;
};

/** The header's JSON object, with its top-level keys as written (repeats included). */
const parseHeaderJson = (
  bytes: Uint8Array,
  file: string,
): { readonly json: Record<string, unknown>; readonly keys: readonly string[] } => {
  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    fail(file, "header is not valid UTF-8");
  }
  const { keys, depth } = scanJson(text);
  if (depth > MAX_HEADER_DEPTH) {
    fail(file, `header nests ${depth} levels deep; a safetensors header nests at most 3`);
  }
  const parsed = parseJson(text, file);
  if (isLeft(parsed)) throw new Error(`${parsed.left} (in the safetensors header)`);
  const json = parsed.right;
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    fail(file, "header is not a JSON object");
  }
  return { json: json as Record<string, unknown>, keys };
};

const firstRepeat = (keys: readonly string[]): string | undefined => {
  const seen = new Set<string>();
  return keys.find((key) => seen.has(key) || (seen.add(key), false));
};

/**
 * Validates the header against the data section's size: known dtypes, byte lengths matching
 * shape x dtype, and offsets that tile the data section exactly (no overlap, no hole, no tail).
 */
const parseHeader = (
  bytes: Uint8Array,
  dataStart: number,
  dataLength: number,
  file: string,
): SafetensorsHeader => {
  const { json, keys } = parseHeaderJson(bytes, file);
  const repeated = firstRepeat(keys);
  if (repeated !== undefined) {
    fail(file, `${tensorLabel(repeated)} is listed twice in the header`);
  }
  const { __metadata__: rawMetadata = {}, ...rawTensors } = json;
  const metadata = MetadataCodec.decode(rawMetadata);
  if (isLeft(metadata)) fail(file, `"__metadata__" must be a map of strings to strings`);
  const entries = Object.entries(rawTensors).map(([name, raw]) => {
    const decoded = TensorEntryCodec.decode(raw);
    if (isLeft(decoded)) {
      throw new Error(formatDecodeErrors(decoded.left, `${file}: ${tensorLabel(name)}`));
    }
    const { dtype, shape, data_offsets: [begin, end] } = decoded.right;
    return { name, dtype, shape, begin, end };
  });
  // By begin, then end, as the reference does: a zero-size tensor may share its begin.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expectedBegin = 0;
  let previous = "the start of the data section";
  for (const { name, dtype, shape, begin, end } of sorted) {
    const where = tensorLabel(name);
    if (end < begin) fail(file, `${where}: data_offsets [${begin}, ${end}] end before they begin`);
    const needed = numElements(shape) * BYTES_PER_ELEMENT[dtype];
    if (!Number.isSafeInteger(needed)) {
      fail(file, `${where}: ${dtype} ${formatShape(shape)} is too large to address`);
    }
    if (end - begin !== needed) {
      fail(
        file,
        `${where}: ${dtype} ${formatShape(shape)} needs ${needed} bytes, data_offsets span ${
          end - begin
        }`,
      );
    }
    if (begin < expectedBegin) {
      fail(file, `${where} overlaps ${previous} (begins at ${begin} < ${expectedBegin})`);
    }
    if (begin > expectedBegin) {
      fail(file, `hole of ${begin - expectedBegin} bytes before ${where} (after ${previous})`);
    }
    expectedBegin = end;
    previous = where;
  }
  if (expectedBegin > dataLength) {
    fail(
      file,
      `truncated: ${previous} ends at data byte ${expectedBegin}, the data section has ${dataLength}`,
    );
  }
  if (expectedBegin < dataLength) {
    fail(file, `${dataLength - expectedBegin} unexplained bytes after ${previous}`);
  }
  const tensors = new Map(entries.map(({ name, dtype, shape, begin, end }) => [
    name,
    { file, dtype, shape, byteOffset: dataStart + begin, byteLength: end - begin },
  ]));
  return { file, metadata: metadata.right, tensors };
};

/** Bits of the exponent field; all of them set means infinity or NaN (quiet or signalling). */
const EXPONENT_MASK = { F32: 0x7f800000, F16: 0x7c00, BF16: 0x7f80 } as const;

/**
 * How many values of a float tensor are NaN or infinite, read from the bits (so signalling NaNs,
 * which arithmetic may quieten, count too). `bytes` must be aligned for the dtype.
 */
export const countNonFinite = (bytes: Uint8Array, dtype: FloatDtype): number => {
  const mask = EXPONENT_MASK[dtype];
  const words = dtype === "F32"
    ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
    : new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  let count = 0;
  for (let i = 0; i < words.length; i++) if ((words[i] & mask) === mask) count++;
  return count;
};

const checkFinite = (
  bytes: Uint8Array,
  dtype: FloatDtype,
  name: string,
  file: string,
  options: ReadOptions,
): void => {
  if (options.allowNonFinite) return;
  const count = countNonFinite(bytes, dtype);
  if (count > 0) {
    const total = bytes.byteLength / BYTES_PER_ELEMENT[dtype];
    fail(
      file,
      `${tensorLabel(name)}: ${count} of ${total} values are NaN or infinite ` +
        "(allowNonFinite loads them anyway)",
    );
  }
};

/** Checks and views aligned bytes as values; `bytes` must start aligned for the dtype. */
const decodeFloats = (
  bytes: Uint8Array,
  dtype: TensorDtype,
  name: string,
  file: string,
  options: ReadOptions,
): Float32Array => {
  if (!isFloat(dtype)) {
    fail(file, `${tensorLabel(name)} is ${dtype}, expected a float tensor (F32, F16, BF16)`);
  }
  checkFinite(bytes, dtype, name, file, options);
  const halves = () => new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  if (dtype === "F32") {
    return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  }
  return dtype === "BF16" ? decodeBf16(halves()) : decodeF16(halves());
};

const decodeInts = (
  bytes: Uint8Array,
  dtype: TensorDtype,
  name: string,
  file: string,
): Int32Array => {
  if (dtype !== "I32" && dtype !== "I64") {
    fail(file, `${tensorLabel(name)} is ${dtype}, expected an integer tensor (I32, I64)`);
  }
  const words = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  if (dtype === "I32") return words;
  const out = new Int32Array(words.length / 2);
  for (let i = 0; i < out.length; i++) {
    const [low, high] = [words[2 * i], words[2 * i + 1]];
    // In int32 range exactly when the high word is the low word's sign extension.
    if (high !== low >> 31) {
      fail(file, `${tensorLabel(name)}: I64 value at index ${i} does not fit in int32`);
    }
    out[i] = low;
  }
  return out;
};

function isFloat(dtype: TensorDtype): dtype is FloatDtype {
  return dtype === "F32" || dtype === "F16" || dtype === "BF16";
}

type Decoded = { floats: Map<string, HostTensor>; ints: Map<string, IntHostTensor> };

/** Decodes one tensor's bytes (a fresh, aligned copy) into whichever map its dtype belongs to. */
const addTensor = (
  into: Decoded,
  name: string,
  info: TensorInfo,
  bytes: Uint8Array,
  options: ReadOptions,
): void => {
  if (isFloat(info.dtype)) {
    const data = decodeFloats(bytes, info.dtype, name, info.file, options);
    into.floats.set(name, { shape: info.shape, data });
  } else {
    into.ints.set(name, {
      shape: info.shape,
      data: decodeInts(bytes, info.dtype, name, info.file),
    });
  }
};

const emptyDecoded = (): Decoded => ({ floats: new Map(), ints: new Map() });

/** Parses a whole safetensors file already in memory; `file` names it in errors. */
export const decodeSafetensors = (
  bytes: Uint8Array,
  file = "<memory>",
  options: ReadOptions = {},
): SafetensorsContents => {
  const length = headerLength(bytes.subarray(0, 8), bytes.length, file);
  const header = parseHeader(
    bytes.subarray(8, 8 + length),
    8 + length,
    bytes.length - 8 - length,
    file,
  );
  const decoded = emptyDecoded();
  for (const [name, info] of header.tensors) {
    // slice() copies, which also aligns the bytes for typed-array views.
    addTensor(
      decoded,
      name,
      info,
      bytes.slice(info.byteOffset, info.byteOffset + info.byteLength),
      options,
    );
  }
  return { metadata: header.metadata, ...decoded };
};

type ReadHandle = Awaited<ReturnType<typeof open>>;

const readExactly = async (handle: ReadHandle, position: number, length: number, file: string) => {
  const bytes = new Uint8Array(length);
  for (let done = 0; done < length;) {
    const { bytesRead } = await handle.read(bytes, done, length - done, position + done);
    if (bytesRead === 0) fail(file, `truncated: wanted ${length} bytes at offset ${position}`);
    done += bytesRead;
  }
  return bytes;
};

const EXPECTED_FILE = "a safetensors file";

const withFile = async <A>(path: string, use: (handle: ReadHandle) => Promise<A>): Promise<A> => {
  if (!await isRegularFile(path, EXPECTED_FILE)) fail(path, "cannot open: no such file");
  const handle = await open(path, "r").catch((e: Error) => {
    throw new Error(`${path}: cannot open: ${e.message}`);
  });
  try {
    return await use(handle);
  } finally {
    await handle.close();
  }
};

const readHeader = async (handle: ReadHandle, file: string): Promise<SafetensorsHeader> => {
  const { size } = await handle.stat();
  const length = headerLength(await readExactly(handle, 0, Math.min(8, size), file), size, file);
  const bytes = await readExactly(handle, 8, length, file);
  return parseHeader(bytes, 8 + length, size - 8 - length, file);
};

const readBytes = (handle: ReadHandle, info: TensorInfo) =>
  readExactly(handle, info.byteOffset, info.byteLength, info.file);

const lookup = (header: SafetensorsHeader, name: string): TensorInfo =>
  header.tensors.get(name) ??
    fail(header.file, `no ${tensorLabel(name)} (the file has ${header.tensors.size} tensors)`);

/** A file whose header has been read and checked; tensors are read on demand. */
export type LazySafetensors = SafetensorsHeader & {
  read(name: string): Promise<HostTensor>;
  readInt(name: string): Promise<IntHostTensor>;
};

/**
 * Reads and validates only the header; `read(name)` then loads one tensor at its offset. The
 * header alone lists every tensor's name, dtype and shape, so a caller can check a checkpoint
 * against what it expects before loading any weight.
 */
export const openSafetensors = async (
  path: string,
  options: ReadOptions = {},
): Promise<LazySafetensors> => {
  const header = await withFile(path, (handle) => readHeader(handle, path));
  const readWith = <A>(name: string, decode: (bytes: Uint8Array, info: TensorInfo) => A) => {
    const info = lookup(header, name);
    return withFile(path, async (handle) => decode(await readBytes(handle, info), info));
  };
  return {
    ...header,
    read: (name) =>
      readWith(name, (bytes, info) => ({
        shape: info.shape,
        data: decodeFloats(bytes, info.dtype, name, path, options),
      })),
    readInt: (name) =>
      readWith(
        name,
        (bytes, info) => ({ shape: info.shape, data: decodeInts(bytes, info.dtype, name, path) }),
      ),
  };
};

/**
 * Reads a file's tensors (all, or only `names`, each of which must exist), one tensor's bytes
 * at a time, each checked and decoded before the next is read. Float tensors widen to f32 in
 * `floats`; I32/I64 go to `ints`.
 */
export const readSafetensors = (
  path: string,
  names?: readonly string[],
  options: ReadOptions = {},
): Promise<SafetensorsContents> =>
  withFile(path, async (handle) => {
    const header = await readHeader(handle, path);
    const wanted = names === undefined
      ? header.tensors
      : new Map(names.map((name) => [name, lookup(header, name)]));
    const decoded = emptyDecoded();
    for (const [name, info] of wanted) {
      addTensor(decoded, name, info, await readBytes(handle, info), options);
    }
    return { metadata: header.metadata, ...decoded };
  });

/** How tensors are written: the float dtype (default F32) and metadata. */
export type WriteOptions = { readonly dtype?: FloatDtype; readonly metadata?: Metadata };

const encodeFloats = (data: Float32Array, dtype: FloatDtype): Uint8Array => {
  const encoded = dtype === "F32" ? data : dtype === "BF16" ? encodeBf16(data) : encodeF16(data);
  return new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength);
};

/**
 * The header chunk of a file holding tensors of these shapes, in this order, all of `dtype`.
 * It is padded with spaces to a multiple of 8 bytes, as the reference writer does, which keeps
 * every tensor aligned. Exported for writers that stream tensors made on the fly.
 */
export const encodeSafetensorsHeader = (
  shapes: readonly (readonly [string, readonly number[]])[],
  { dtype = "F32", metadata }: WriteOptions = {},
): Uint8Array => {
  let offset = 0;
  const entries = shapes.map(([name, shape]) => {
    const begin = offset;
    offset += numElements(shape) * BYTES_PER_ELEMENT[dtype];
    return [name, { dtype, shape, data_offsets: [begin, offset] }] as const;
  });
  const header = Object.fromEntries(
    metadata === undefined ? entries : [["__metadata__", metadata], ...entries],
  );
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = new Uint8Array(8 + Math.ceil(json.length / 8) * 8).fill(0x20);
  new DataView(padded.buffer).setBigUint64(0, BigInt(padded.length - 8), true);
  padded.set(json, 8);
  return padded;
};

/** A tensor to write must hold exactly the values its shape needs. */
const checkValueCount = (
  file: string,
  name: string,
  shape: readonly number[],
  length: number,
): void => {
  if (length !== numElements(shape)) {
    fail(
      file,
      `${tensorLabel(name)}: shape ${formatShape(shape)} needs ${
        numElements(shape)
      } values, data has ${length}`,
    );
  }
};

/**
 * The file as a header chunk followed by one chunk per tensor (sorted by name), so large files
 * can be streamed to disk.
 */
export function* encodeSafetensorsChunks(
  tensors: ReadonlyMap<string, HostTensor>,
  options: WriteOptions = {},
  file = "<memory>",
): Generator<Uint8Array> {
  const names = [...tensors.keys()].sort();
  for (const name of names) {
    const { shape, data } = tensors.get(name)!;
    checkValueCount(file, name, shape, data.length);
  }
  yield encodeSafetensorsHeader(names.map((name) => [name, tensors.get(name)!.shape]), options);
  for (const name of names) yield encodeFloats(tensors.get(name)!.data, options.dtype ?? "F32");
}

/** A whole safetensors file in memory (writeSafetensors streams it to disk instead). */
export const encodeSafetensors = (
  tensors: ReadonlyMap<string, HostTensor>,
  options: WriteOptions = {},
  file = "<memory>",
): Uint8Array => {
  const chunks = [...encodeSafetensorsChunks(tensors, options, file)];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  chunks.reduce((at, chunk) => (out.set(chunk, at), at + chunk.length), 0);
  return out;
};

/** A tensor to write whose values are read only when the writer reaches it. */
export interface LazyTensor {
  /** Its shape, written in the header before any values are read. */
  readonly shape: readonly number[];
  /** Its values, in a fresh array that the writer frees once they are on disk. */
  readonly read: () => Promise<Float32Array>;
}

/**
 * Writes float32 tensors as writeSafetensors does (same bytes), reading each only when its turn
 * comes and freeing it once written, so no more than one tensor's values are held at a time
 * (a checkpoint's optimizer moments: 0.3 GB at the 1.5B shape).
 */
export const writeSafetensorsStreamed = (
  path: string,
  tensors: ReadonlyMap<string, LazyTensor>,
  options: { readonly metadata?: Metadata } = {},
): Promise<void> => {
  const names = [...tensors.keys()].sort();
  async function* chunks(): AsyncGenerator<Uint8Array> {
    yield encodeSafetensorsHeader(names.map((name) => [name, tensors.get(name)!.shape]), options);
    for (const name of names) {
      const { shape, read } = tensors.get(name)!;
      const data = await read();
      checkValueCount(path, name, shape, data.length);
      yield new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      freeBuffer(data);
    }
  }
  return writeFileAtomic(path, chunks());
};

/** Writes tensors (converted to `dtype`, F32 by default) atomically: temp file, then rename. */
export const writeSafetensors = (
  path: string,
  tensors: ReadonlyMap<string, HostTensor>,
  options: WriteOptions = {},
): Promise<void> => writeFileAtomic(path, encodeSafetensorsChunks(tensors, options, path));
