/**
 * A corpus of corrupted model directories, made from a valid one: each case replaces some files
 * (or turns one into a directory) and names the file its error must name. Truncations cut every
 * region of a safetensors file (length prefix, header, each tensor's bytes); bit flips hit the
 * header; the rest are the failures issue #17's probe found, one case each.
 */
import { decodeSafetensors, encodeSafetensors } from "../../lib/io/safetensors.ts";

/** A file made a directory, where the loader expects a file. */
export const DIRECTORY = Symbol("directory");
/** A file made a link to an endless device (/dev/zero): reading it would never finish. */
export const DEVICE = Symbol("device");
export type Replacement = Uint8Array | string | typeof DIRECTORY | typeof DEVICE;

export type Loader = "model" | "adapter" | "tokenizer";

export type Corruption = {
  /** What was done, to tell a failing case apart. */
  readonly name: string;
  readonly loader: Loader;
  /** The file (relative to the directory) the error must name. */
  readonly file: string;
  readonly replace: Readonly<Record<string, Replacement>>;
};

/** The valid directory's files, by name: the base every case starts from. */
export type BaseFiles = Readonly<Record<string, Uint8Array>>;

type Entry = { dtype: string; shape: number[]; data_offsets: number[] };
type Header = Record<string, Entry | Record<string, string>>;

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const utf8 = (s: string) => new TextEncoder().encode(s);

/** A safetensors file's parts: where the header ends, its JSON, and the data bytes. */
export const splitSafetensors = (bytes: Uint8Array) => {
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const dataStart = 8 + headerLength;
  return {
    dataStart,
    header: JSON.parse(text(bytes.subarray(8, dataStart))) as Header,
    headerText: text(bytes.subarray(8, dataStart)),
    data: bytes.subarray(dataStart),
  };
};

/** A safetensors file from header text (its length field made to fit) and data bytes. */
export const joinSafetensors = (headerText: string, data: Uint8Array): Uint8Array => {
  const header = utf8(headerText);
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
};

const tensorEntries = (header: Header) =>
  Object.entries(header).filter(([name]) => name !== "__metadata__") as [string, Entry][];

/** Cuts at every region: inside the length prefix, the header, and each tensor's bytes. */
export const truncations = (file: string, bytes: Uint8Array, loader: Loader): Corruption[] => {
  const { dataStart, header } = splitSafetensors(bytes);
  const inTensors = tensorEntries(header).flatMap(([name, { data_offsets: [begin, end] }]) =>
    end > begin ? [[`inside ${name}`, dataStart + Math.floor((begin + end) / 2)] as const] : []
  );
  const cuts: (readonly [string, number])[] = [
    ["empty file", 0],
    ["inside the length prefix", 5],
    ["after the length prefix", 8],
    ["inside the header", 8 + Math.floor((dataStart - 8) / 2)],
    ["one byte before the header ends", dataStart - 1],
    ["where the data begins", dataStart],
    ...inTensors,
    ["one byte short", bytes.length - 1],
  ];
  return cuts.map(([where, at]) => ({
    name: `${file} truncated ${where} (${at} of ${bytes.length} bytes)`,
    loader,
    file,
    replace: { [file]: bytes.slice(0, at) },
  }));
};

/**
 * One bit flipped in every `stride`-th header byte (bit = byte index mod 8), outside the
 * `__metadata__` map, whose free text may change without harm.
 */
export const headerBitFlips = (
  file: string,
  bytes: Uint8Array,
  loader: Loader,
  stride: number,
): Corruption[] => {
  const { dataStart, headerText } = splitSafetensors(bytes);
  const metadataAt = headerText.indexOf('"__metadata__"');
  const metadataEnd = metadataAt === -1 ? -1 : headerText.indexOf("}", metadataAt);
  const inMetadata = (at: number) => metadataAt !== -1 && at >= metadataAt && at <= metadataEnd;
  const positions = Array.from(
    { length: Math.ceil((dataStart - 8) / stride) },
    (_, i) => i * stride,
  )
    .filter((at) => !inMetadata(at));
  return positions.map((at) => {
    const copy = bytes.slice();
    copy[8 + at] ^= 1 << (at % 8);
    return {
      name: `${file} header byte ${at} (${JSON.stringify(headerText[at])}) bit ${at % 8} flipped`,
      loader,
      file,
      replace: { [file]: copy },
    };
  });
};

/** The same file with its header rewritten by `edit` (text in, text out), data unchanged. */
const withHeaderText = (bytes: Uint8Array, edit: (headerText: string) => string): Uint8Array => {
  const { headerText, data } = splitSafetensors(bytes);
  return joinSafetensors(edit(headerText.trimEnd()), data);
};

const withHeader = (bytes: Uint8Array, edit: (header: Header) => Header): Uint8Array =>
  withHeaderText(bytes, (headerText) => JSON.stringify(edit(JSON.parse(headerText))));

/** The same file with one tensor's first values set to the given raw F32 bits. */
const withBits = (bytes: Uint8Array, tensor: string, bits: readonly number[]): Uint8Array => {
  const { dataStart, header } = splitSafetensors(bytes);
  const entry = header[tensor] as Entry;
  const copy = bytes.slice();
  const view = new DataView(copy.buffer);
  bits.forEach((word, i) => view.setUint32(dataStart + entry.data_offsets[0] + 4 * i, word, true));
  return copy;
};

/** The safetensors format and value cases of the issue, on a model's F32 weights file. */
export const weightFileCases = (file: string, bytes: Uint8Array, loader: Loader): Corruption[] => {
  const { header } = splitSafetensors(bytes);
  const [first, second] = tensorEntries(header).filter(([, a]) => a.dtype === "F32")
    .sort(([, a], [, b]) =>
      a.data_offsets[1] - a.data_offsets[0] - (b.data_offsets[1] - b.data_offsets[0])
    )
    .slice(-2);
  const case_ = (name: string, replaced: Uint8Array): Corruption => ({
    name: `${file}: ${name}`,
    loader,
    file,
    replace: { [file]: replaced },
  });
  const entryText = (name: string, entry: Entry) =>
    `${JSON.stringify(name)}:${JSON.stringify(entry)}`;
  return [
    case_(
      "data_offsets with three elements",
      withHeader(bytes, (h) => ({
        ...h,
        [first[0]]: { ...first[1], data_offsets: [...first[1].data_offsets, 0] },
      })),
    ),
    // Listed twice, the second time with the other's offsets: JSON.parse keeps the last.
    case_(
      `${first[0]} and ${second[0]} each listed twice, offsets swapped`,
      withHeaderText(
        bytes,
        (h) =>
          `${h.slice(0, -1)},${
            entryText(first[0], { ...first[1], data_offsets: second[1].data_offsets })
          },${entryText(second[0], { ...second[1], data_offsets: first[1].data_offsets })}}`,
      ),
    ),
    case_(
      "a header value nested 100,000 deep",
      withHeaderText(
        bytes,
        (h) => `${h.slice(0, -1)},"deep":${"[".repeat(100_000)}${"]".repeat(100_000)}}`,
      ),
    ),
    case_("a header that is a list", withHeaderText(bytes, () => "[]")),
    case_(
      "a negative dimension",
      withHeader(bytes, (h) => ({
        ...h,
        [first[0]]: { ...first[1], shape: [-1, ...first[1].shape.slice(1)] },
      })),
    ),
    case_(
      "an unknown dtype",
      withHeader(bytes, (h) => ({
        ...h,
        [first[0]]: { ...first[1], dtype: "F8_E4M3" },
      })),
    ),
    case_(
      "a header length above the cap",
      (() => {
        const copy = bytes.slice();
        new DataView(copy.buffer).setBigUint64(0, 2n ** 40n, true);
        return copy;
      })(),
    ),
    case_("a NaN weight", withBits(bytes, first[0], [0x7fc00000])),
    case_("a signalling NaN weight", withBits(bytes, first[0], [0x7f800001])),
    case_("+Inf and -Inf weights", withBits(bytes, first[0], [0x7f800000, 0xff800000])),
    { name: `${file} is a directory`, loader, file, replace: { [file]: DIRECTORY } },
    { name: `${file} is /dev/zero`, loader, file, replace: { [file]: DEVICE } },
  ];
};

const jsonWith = (bytes: Uint8Array, change: Record<string, unknown>) =>
  JSON.stringify({ ...JSON.parse(text(bytes)), ...change });

/** config.json cases the issue found loading silently wrong: the checkpoint must match. */
export const modelConfigCases = (base: BaseFiles): Corruption[] =>
  [
    ["num_hidden_layers 1 over a 2-layer checkpoint", { num_hidden_layers: 1 }],
    ["num_hidden_layers 3 over a 2-layer checkpoint", { num_hidden_layers: 3 }],
    ["num_hidden_layers 10^9 (once minutes and gigabytes)", { num_hidden_layers: 1e9 }],
    ["vocab_size 65 over 64 embedding rows", { vocab_size: 65 }],
    ["tie_word_embeddings over an untied checkpoint (lm_head left over)", {
      tie_word_embeddings: true,
    }],
    ["LlamaForCausalLM over Qwen2 weights (biases left over)", {
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
    }],
  ].map(([name, change]) => ({
    name: `config.json: ${name}`,
    loader: "model" as const,
    file: "model.safetensors",
    replace: { "config.json": jsonWith(base["config.json"], change as Record<string, unknown>) },
  }));

const DEEP = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;

/**
 * The JSON files each broken in the ways the probe tried: a directory, not JSON, not an object,
 * and a field the loader reads holding a value nested 100,000 deep (which once overflowed the
 * stack while the error message was being written).
 */
export const jsonFileCases = (base: BaseFiles): Corruption[] => {
  const files: [string, Loader, string][] = [
    ["config.json", "model", "hidden_size"],
    ["adapter_config.json", "adapter", "target_modules"],
    ["tokenizer.json", "tokenizer", "added_tokens"],
    ["tokenizer_config.json", "tokenizer", "eos_token"],
  ];
  return files.flatMap(([file, loader, field]): Corruption[] => [
    { name: `${file} is a directory`, loader, file, replace: { [file]: DIRECTORY } },
    { name: `${file} is /dev/zero`, loader, file, replace: { [file]: DEVICE } },
    { name: `${file} is not JSON`, loader, file, replace: { [file]: "{ not json" } },
    { name: `${file} is a list`, loader, file, replace: { [file]: "[1, 2]" } },
    {
      name: `${file}: "${field}" nested 100,000 deep`,
      loader,
      file,
      replace: {
        [file]: JSON.stringify({ ...JSON.parse(text(base[file])), [field]: 0 }).replace(
          `"${field}":0`,
          `"${field}":${DEEP}`,
        ),
      },
    },
  ]);
};

/** Adapters missing parts, empty, or asking for PEFT options the library does not run. */
export const adapterCases = (base: BaseFiles): Corruption[] => {
  const weights = "adapter_model.safetensors";
  const { floats, metadata } = decodeSafetensors(base[weights], weights);
  const without = (name: string, drop: (tensor: string) => boolean): Corruption => ({
    name: `${weights}: ${name}`,
    loader: "adapter",
    file: weights,
    replace: {
      [weights]: encodeSafetensors(new Map([...floats].filter(([key]) => !drop(key))), {
        metadata,
      }),
    },
  });
  const config = (
    name: string,
    change: Record<string, unknown>,
    file = "adapter_config.json",
  ): Corruption => ({
    name: `adapter_config.json: ${name}`,
    loader: "adapter",
    file,
    replace: { "adapter_config.json": jsonWith(base["adapter_config.json"], change) },
  });
  const loraB = [...floats.keys()].find((key) => key.includes("lora_B"))!;
  return [
    without("layer 1 up_proj's A and B missing", (key) => key.includes("layers.1.mlp.up_proj")),
    without("layer 1 missing", (key) => key.includes("layers.1.")),
    without("no tensors at all", () => true),
    {
      name: `${weights}: a NaN in ${loraB}`,
      loader: "adapter",
      file: weights,
      replace: { [weights]: withBits(base[weights], loraB, [0x7fc00000]) },
    },
    config("layers_to_transform [0]", { layers_to_transform: [0] }),
    config("layer_replication", { layer_replication: [[0, 2]] }),
    config("layers_pattern", { layers_pattern: "layers" }),
    // The config is well formed; the tensors are what disagree with it.
    config("rank 8 over rank-4 tensors", { r: 8 }, weights),
    config("rank_pattern", { rank_pattern: { q_proj: 2 } }),
  ];
};

/** tokenizer.json / tokenizer_config.json / chat_template.jinja cases. */
export const tokenizerCases = (base: BaseFiles): Corruption[] => {
  const tokenizer = JSON.parse(text(base["tokenizer.json"]));
  const vocab = tokenizer.model.vocab as Record<string, number>;
  const withModel = (name: string, change: Record<string, unknown>): Corruption => ({
    name: `tokenizer.json: ${name}`,
    loader: "tokenizer",
    file: "tokenizer.json",
    replace: {
      "tokenizer.json": JSON.stringify({ ...tokenizer, model: { ...tokenizer.model, ...change } }),
    },
  });
  const [firstToken, secondToken] = Object.keys(vocab).slice(-2);
  return [
    withModel("vocab is a list", { vocab: Object.keys(vocab) }),
    withModel('model.type "Unigram" over a BPE vocabulary', { type: "Unigram" }),
    withModel('model.type "WordLevel"', { type: "WordLevel" }),
    withModel("a negative id", { vocab: { ...vocab, [firstToken]: -3 } }),
    withModel("a duplicate id", { vocab: { ...vocab, [firstToken]: vocab[secondToken] } }),
    withModel("a stray huge id", { vocab: { ...vocab, [firstToken]: 2 ** 31 } }),
    {
      name: "tokenizer_config.json: an eos_token not in the vocabulary",
      loader: "tokenizer",
      file: "tokenizer_config.json",
      replace: {
        "tokenizer_config.json": jsonWith(base["tokenizer_config.json"], { eos_token: "<|nope|>" }),
      },
    },
    {
      name: "tokenizer_config.json: chat_template is a number",
      loader: "tokenizer",
      file: "tokenizer_config.json",
      replace: {
        "tokenizer_config.json": jsonWith(base["tokenizer_config.json"], { chat_template: 7 }),
      },
    },
    {
      name: "tokenizer.json is a directory",
      loader: "tokenizer",
      file: "tokenizer.json",
      replace: { "tokenizer.json": DIRECTORY },
    },
    {
      name: "chat_template.jinja is /dev/zero",
      loader: "tokenizer",
      file: "chat_template.jinja",
      replace: { "chat_template.jinja": DEVICE },
    },
    {
      name: "chat_template.jinja does not parse",
      loader: "tokenizer",
      file: "chat_template.jinja",
      replace: { "chat_template.jinja": "{% for m in messages %}{{ m.content }" },
    },
    {
      name: "chat_template.jinja loops 10^7 times",
      loader: "tokenizer",
      file: "chat_template.jinja",
      replace: { "chat_template.jinja": "{% for i in range(10000000) %}{{ i }}{% endfor %}" },
    },
  ];
};
