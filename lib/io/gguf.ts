/**
 * GGUF (llama.cpp's model format, version 3): the base model of every supported family and LoRA
 * adapters, written from Hugging Face tensors so that `llama-server` can serve exactly the
 * weights being trained. Names and metadata follow llama.cpp's `convert_hf_to_gguf.py` and
 * `convert_lora_to_gguf.py`; a small reader decodes what the writer wrote (for tests and checks).
 */
import { writeFileAtomic } from "./atomic.ts";
import { decodeF16, encodeF16 } from "./half_float.ts";
import type { ModelConfig } from "./hf_config.ts";
import { formatShape, type HostTensor, numElements } from "./host_tensor.ts";
import { loraScaling, type PeftAdapter } from "./peft.ts";
import { layerPrefix, type Proj, projModule, PROJS } from "./weight_layout.ts";

const MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32
const VERSION = 3;
const ALIGNMENT = 32;

/** GGUF metadata value types (gguf.h). */
const VT = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;
type ScalarType = Exclude<keyof typeof VT, "array">;

export type GgufValue =
  | { readonly type: ScalarType; readonly value: number | string | boolean }
  | {
    readonly type: "array";
    readonly of: ScalarType;
    readonly values: readonly (number | string)[];
  };

/** ggml tensor types written here. */
const TENSOR_TYPES = { F32: 0, F16: 1 } as const;
export type GgufTensorType = keyof typeof TENSOR_TYPES;

/** A tensor in HF (row-major, outermost first) shape; GGUF stores the dims reversed. */
export interface GgufTensor {
  readonly name: string;
  readonly tensor: HostTensor;
  readonly type: GgufTensorType;
}

export interface GgufFile {
  readonly metadata: ReadonlyMap<string, GgufValue>;
  readonly tensors: readonly GgufTensor[];
}

/** The tokenizer as llama.cpp reads it (token ids are sent as ids, so only ids must agree). */
export interface GgufVocabulary {
  /** Token texts in llama.cpp's form (GPT-2 byte-level characters for normal tokens). */
  readonly tokens: readonly string[];
  /** llama.cpp token types: 1 normal, 3 control, 4 user-defined, 5 unused. */
  readonly tokenTypes: readonly number[];
  readonly merges: readonly string[];
  readonly bosTokenId: number | null;
  /** Generation ends at these (llama.cpp's eos, eot and eom slots, in that order). */
  readonly eosTokenIds: readonly number[];
  readonly padTokenId: number | null;
}

const u32 = (value: number): GgufValue => ({ type: "u32", value });
const f32 = (value: number): GgufValue => ({ type: "f32", value });
const str = (value: string): GgufValue => ({ type: "string", value });

// ---------------------------------------------------------------------------------------------
// Encoding

const utf8 = new TextEncoder();

type NumericType = Exclude<ScalarType, "string">;
type Access = readonly [
  size: number,
  get: (v: DataView, at: number) => number | boolean,
  set: (v: DataView, at: number, x: number) => void,
];

/** Byte size and little-endian accessors of each numeric metadata type. */
const NUMERIC: Record<NumericType, Access> = {
  u8: [1, (v, at) => v.getUint8(at), (v, at, x) => v.setUint8(at, x)],
  i8: [1, (v, at) => v.getInt8(at), (v, at, x) => v.setInt8(at, x)],
  bool: [1, (v, at) => v.getUint8(at) !== 0, (v, at, x) => v.setUint8(at, x)],
  u16: [2, (v, at) => v.getUint16(at, true), (v, at, x) => v.setUint16(at, x, true)],
  i16: [2, (v, at) => v.getInt16(at, true), (v, at, x) => v.setInt16(at, x, true)],
  u32: [4, (v, at) => v.getUint32(at, true), (v, at, x) => v.setUint32(at, x, true)],
  i32: [4, (v, at) => v.getInt32(at, true), (v, at, x) => v.setInt32(at, x, true)],
  f32: [4, (v, at) => v.getFloat32(at, true), (v, at, x) => v.setFloat32(at, x, true)],
  u64: [
    8,
    (v, at) => Number(v.getBigUint64(at, true)),
    (v, at, x) => v.setBigUint64(at, BigInt(x), true),
  ],
  i64: [
    8,
    (v, at) => Number(v.getBigInt64(at, true)),
    (v, at, x) => v.setBigInt64(at, BigInt(x), true),
  ],
  f64: [8, (v, at) => v.getFloat64(at, true), (v, at, x) => v.setFloat64(at, x, true)],
};

/** A growable little-endian byte buffer for the header. */
class Bytes {
  private buf = new Uint8Array(1024);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private room(n: number): DataView {
    if (this.length + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    return this.view;
  }
  scalar(type: ScalarType, v: number | string | boolean) {
    if (type === "string") {
      const b = utf8.encode(v as string);
      this.scalar("u64", b.length);
      this.room(b.length);
      this.buf.set(b, this.length);
      this.length += b.length;
      return;
    }
    const [size, , set] = NUMERIC[type];
    set(this.room(size), this.length, Number(v));
    this.length += size;
  }
  u32(v: number) {
    this.scalar("u32", v);
  }
  u64(v: number) {
    this.scalar("u64", v);
  }
  pad(alignment: number) {
    const target = Math.ceil(this.length / alignment) * alignment;
    this.room(target - this.length);
    this.buf.fill(0, this.length, target);
    this.length = target;
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const tensorBytes = (t: GgufTensor): Uint8Array => {
  const data = t.type === "F32" ? t.tensor.data : encodeF16(t.tensor.data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
};

const byteSize = (t: GgufTensor): number =>
  numElements(t.tensor.shape) * (t.type === "F32" ? 4 : 2);

const aligned = (n: number): number => Math.ceil(n / ALIGNMENT) * ALIGNMENT;

/** The file as a header chunk and one chunk per tensor (with alignment padding), for streaming. */
export function* encodeGgufChunks(file: GgufFile): Generator<Uint8Array> {
  const names = new Set<string>();
  for (const t of file.tensors) {
    if (names.has(t.name)) throw new Error(`GGUF: tensor "${t.name}" is given twice`);
    names.add(t.name);
    if (t.tensor.data.length !== numElements(t.tensor.shape)) {
      throw new Error(
        `GGUF: tensor "${t.name}" has shape ${
          formatShape(t.tensor.shape)
        } but ${t.tensor.data.length} values`,
      );
    }
  }
  const h = new Bytes();
  h.u32(MAGIC);
  h.u32(VERSION);
  h.u64(file.tensors.length);
  h.u64(file.metadata.size);
  for (const [key, v] of file.metadata) {
    h.scalar("string", key);
    h.u32(VT[v.type]);
    if (v.type === "array") {
      h.u32(VT[v.of]);
      h.u64(v.values.length);
      for (const item of v.values) h.scalar(v.of, item);
    } else h.scalar(v.type, v.value);
  }
  let offset = 0;
  for (const t of file.tensors) {
    h.scalar("string", t.name);
    const dims = [...t.tensor.shape].reverse();
    h.u32(dims.length);
    dims.forEach((d) => h.u64(d));
    h.u32(TENSOR_TYPES[t.type]);
    h.u64(offset);
    offset = aligned(offset + byteSize(t));
  }
  h.pad(ALIGNMENT);
  yield h.bytes();
  for (const t of file.tensors) {
    const bytes = tensorBytes(t);
    yield bytes;
    const padding = aligned(bytes.length) - bytes.length;
    if (padding > 0) yield new Uint8Array(padding);
  }
}

export const encodeGguf = (file: GgufFile): Uint8Array => {
  const chunks = [...encodeGgufChunks(file)];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  chunks.reduce((at, c) => (out.set(c, at), at + c.length), 0);
  return out;
};

export const writeGguf = (path: string, file: GgufFile): Promise<void> =>
  writeFileAtomic(path, encodeGgufChunks(file));

// ---------------------------------------------------------------------------------------------
// Decoding (what this writer produces: F32 and F16 tensors)

const TYPE_NAMES = Object.fromEntries(Object.entries(VT).map(([k, v]) => [v, k])) as Record<
  number,
  keyof typeof VT
>;

/** Reads a GGUF file's metadata and F32/F16 tensors; `file` names it in errors. */
export const decodeGguf = (bytes: Uint8Array, file = "<memory>"): GgufFile => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const fail = (why: string): never => {
    throw new Error(`${file}: not a GGUF file this reader supports: ${why} (at byte ${at})`);
  };
  const need = (n: number) => (at + n <= bytes.length ? undefined : fail("unexpected end of file"));
  const numberR = (type: NumericType): number | boolean => {
    const [size, get] = NUMERIC[type];
    need(size);
    at += size;
    return get(view, at - size);
  };
  const u32r = () => numberR("u32") as number;
  const u64r = () => numberR("u64") as number;
  const strR = () => {
    const n = u64r();
    need(n);
    at += n;
    return new TextDecoder().decode(bytes.subarray(at - n, at));
  };
  const scalarR = (type: keyof typeof VT): number | string | boolean =>
    type === "string" ? strR() : type === "array" ? fail("nested arrays") : numberR(type);
  const typeOf = (code: number) => TYPE_NAMES[code] ?? fail(`unknown value type ${code}`);
  if (u32r() !== MAGIC) fail("bad magic");
  const version = u32r();
  if (version !== VERSION) fail(`version ${version}`);
  const tensorCount = u64r();
  const kvCount = u64r();
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = strR();
    const type = typeOf(u32r());
    if (type === "array") {
      const of = typeOf(u32r());
      if (of === "array") fail(`nested arrays (key ${key})`);
      const n = u64r();
      const values = Array.from({ length: n }, () => scalarR(of) as number | string);
      metadata.set(key, { type, of: of as ScalarType, values });
    } else metadata.set(key, { type, value: scalarR(type) });
  }
  const infos = Array.from({ length: tensorCount }, () => {
    const name = strR();
    const dims = Array.from({ length: u32r() }, u64r);
    const code = u32r();
    const type = (Object.keys(TENSOR_TYPES) as GgufTensorType[]).find((k) =>
      TENSOR_TYPES[k] === code
    ) ?? fail(`tensor "${name}" has ggml type ${code}`);
    return { name, shape: dims.reverse(), type, offset: u64r() };
  });
  const dataStart = aligned(at);
  const tensors = infos.map(({ name, shape, type, offset }): GgufTensor => {
    const size = numElements(shape) * (type === "F32" ? 4 : 2);
    at = dataStart + offset;
    need(size);
    // A copy: the file's offsets need not suit a typed array view (little-endian host assumed).
    const raw = bytes.slice(at, at + size).buffer;
    const data = type === "F32" ? new Float32Array(raw) : decodeF16(new Uint16Array(raw));
    return { name, type, tensor: { shape, data } };
  });
  return { metadata, tensors };
};

// ---------------------------------------------------------------------------------------------
// Hugging Face models and PEFT adapters -> GGUF

/** llama.cpp's architecture name per supported family. */
const GGUF_ARCH: Record<ModelConfig["architecture"], string> = {
  Qwen2ForCausalLM: "qwen2",
  Qwen3ForCausalLM: "qwen3",
  LlamaForCausalLM: "llama",
};

/** llama.cpp's tensor name of each projection inside `blk.N.`. */
const GGUF_PROJ: Record<Proj, string> = {
  q: "attn_q",
  k: "attn_k",
  v: "attn_v",
  o: "attn_output",
  gate: "ffn_gate",
  up: "ffn_up",
  down: "ffn_down",
};

/**
 * Llama's GGUF uses llama.cpp's interleaved RoPE, so convert_hf_to_gguf.py permutes the rows of
 * q and k (weights, biases and LoRA B) from HF's rotate-half order; Qwen uses NeoX RoPE, no change.
 */
const permuteRows = (t: HostTensor, heads: number): HostTensor => {
  const [rows, ...rest] = t.shape;
  const rowSize = rest.reduce((a, b) => a * b, 1);
  const half = rows / heads / 2;
  const out = new Float32Array(t.data.length);
  for (let h = 0; h < heads; h++) {
    for (let pair = 0; pair < 2; pair++) {
      for (let i = 0; i < half; i++) {
        const from = h * 2 * half + pair * half + i; // HF: [head, pair, half]
        const to = h * 2 * half + i * 2 + pair; // GGUF: [head, half, pair]
        out.set(t.data.subarray(from * rowSize, (from + 1) * rowSize), to * rowSize);
      }
    }
  }
  return { shape: t.shape, data: out };
};

const ropePermutation = (cfg: ModelConfig, proj: Proj): (t: HostTensor) => HostTensor => {
  if (cfg.architecture !== "LlamaForCausalLM" || (proj !== "q" && proj !== "k")) return (t) => t;
  const heads = proj === "q" ? cfg.numAttentionHeads : cfg.numKeyValueHeads;
  return (t) => permuteRows(t, heads);
};

/** Llama 3's RoPE frequency factors as convert_hf_to_gguf.py writes `rope_freqs.weight`. */
const ropeFreqFactors = (cfg: ModelConfig): Float32Array | null => {
  const s = cfg.ropeScaling;
  if (!s) return null;
  const dim = cfg.headDim;
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  return Float32Array.from({ length: dim / 2 }, (_, i) => {
    const wavelen = 2 * Math.PI * cfg.ropeTheta ** ((2 * i) / dim);
    if (wavelen < highWavelen) return 1;
    if (wavelen > lowWavelen) return s.factor;
    const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) /
      (s.highFreqFactor - s.lowFreqFactor);
    return 1 / ((1 - smooth) / s.factor + smooth);
  });
};

const archMetadata = (cfg: ModelConfig, arch: string): [string, GgufValue][] => [
  [`${arch}.context_length`, u32(cfg.maxPositionEmbeddings)],
  [`${arch}.embedding_length`, u32(cfg.hiddenSize)],
  [`${arch}.block_count`, u32(cfg.numHiddenLayers)],
  [`${arch}.feed_forward_length`, u32(cfg.intermediateSize)],
  [`${arch}.attention.head_count`, u32(cfg.numAttentionHeads)],
  [`${arch}.attention.head_count_kv`, u32(cfg.numKeyValueHeads)],
  [`${arch}.attention.key_length`, u32(cfg.headDim)],
  [`${arch}.attention.value_length`, u32(cfg.headDim)],
  [`${arch}.rope.dimension_count`, u32(cfg.headDim)],
  [`${arch}.rope.freq_base`, f32(cfg.ropeTheta)],
  [`${arch}.attention.layer_norm_rms_epsilon`, f32(cfg.rmsNormEps)],
  [`${arch}.vocab_size`, u32(cfg.vocabSize)],
];

const vocabularyMetadata = (cfg: ModelConfig, v: GgufVocabulary): [string, GgufValue][] => {
  if (v.tokens.length !== cfg.vocabSize || v.tokenTypes.length !== cfg.vocabSize) {
    throw new Error(
      `GGUF: the vocabulary has ${v.tokens.length} tokens, the model's vocab_size is ${cfg.vocabSize}`,
    );
  }
  if (v.eosTokenIds.length > 3) {
    throw new Error(
      `GGUF: llama.cpp has three end-of-generation slots (eos, eot, eom); got ${v.eosTokenIds.length} stop tokens`,
    );
  }
  const ids: [string, number | null][] = [
    ["bos", v.bosTokenId],
    ["eos", v.eosTokenIds[0] ?? null],
    ["eot", v.eosTokenIds[1] ?? null],
    ["eom", v.eosTokenIds[2] ?? null],
    ["padding", v.padTokenId],
  ];
  return [
    ["tokenizer.ggml.model", str("gpt2")],
    // Prompts reach the server as token ids, so the pre-tokenizer never runs on our text.
    ["tokenizer.ggml.pre", str("default")],
    ["tokenizer.ggml.tokens", { type: "array", of: "string", values: v.tokens }],
    ["tokenizer.ggml.token_type", { type: "array", of: "i32", values: v.tokenTypes }],
    // llama.cpp refuses a BPE vocabulary without merges; one placeholder is enough.
    ["tokenizer.ggml.merges", {
      type: "array",
      of: "string",
      values: v.merges.length > 0 ? v.merges : [placeholderMerge(v)],
    }],
    ...ids.filter(([, id]) => id !== null).map(([name, id]): [string, GgufValue] => [
      `tokenizer.ggml.${name}_token_id`,
      u32(id!),
    ]),
    ["tokenizer.ggml.add_bos_token", { type: "bool", value: false }],
  ];
};

const placeholderMerge = (v: GgufVocabulary): string => {
  const normal = v.tokens.filter((t, i) => v.tokenTypes[i] === 1 && !t.includes(" "));
  if (normal.length < 2) throw new Error("GGUF: a vocabulary needs two normal tokens");
  return `${normal[0]} ${normal[1]}`;
};

/**
 * The base model as a GGUF file (f32 by default; `dtype: "F16"` halves 2-D weights, norms and
 * biases stay f32 as llama.cpp expects). `weights` are HF-named tensors (lib/io/model_weights.ts).
 */
export const ggufModel = (
  cfg: ModelConfig,
  weights: ReadonlyMap<string, HostTensor>,
  vocabulary: GgufVocabulary,
  opts: { readonly name?: string; readonly dtype?: GgufTensorType } = {},
): GgufFile => {
  const arch = GGUF_ARCH[cfg.architecture];
  const dtype = opts.dtype ?? "F32";
  const get = (name: string): HostTensor => {
    const t = weights.get(name);
    if (!t) throw new Error(`GGUF export: the model has no tensor "${name}"`);
    return t;
  };
  const matrix = (name: string, t: HostTensor): GgufTensor => ({ name, tensor: t, type: dtype });
  const vector = (name: string, t: HostTensor): GgufTensor => ({ name, tensor: t, type: "F32" });
  const layers = Array.from({ length: cfg.numHiddenLayers }, (_, i) => {
    const hf = layerPrefix(i);
    const blk = `blk.${i}`;
    const projections = PROJS.flatMap((proj) => {
      const base = `${hf}.${projModule(proj)}`;
      const permute = ropePermutation(cfg, proj);
      const bias = weights.get(`${base}.bias`);
      const hasBias = proj === "o"
        ? cfg.outputBias
        : ["q", "k", "v"].includes(proj)
        ? cfg.attentionBias
        : cfg.mlpBias;
      return [
        matrix(`${blk}.${GGUF_PROJ[proj]}.weight`, permute(get(`${base}.weight`))),
        ...(hasBias && bias ? [vector(`${blk}.${GGUF_PROJ[proj]}.bias`, permute(bias))] : []),
      ];
    });
    const qkNorms = cfg.qkNorm
      ? [
        vector(`${blk}.attn_q_norm.weight`, get(`${hf}.self_attn.q_norm.weight`)),
        vector(`${blk}.attn_k_norm.weight`, get(`${hf}.self_attn.k_norm.weight`)),
      ]
      : [];
    return [
      vector(`${blk}.attn_norm.weight`, get(`${hf}.input_layernorm.weight`)),
      ...projections,
      ...qkNorms,
      vector(`${blk}.ffn_norm.weight`, get(`${hf}.post_attention_layernorm.weight`)),
    ];
  }).flat();
  const freqs = ropeFreqFactors(cfg);
  const tensors: GgufTensor[] = [
    matrix("token_embd.weight", get("model.embed_tokens.weight")),
    ...(freqs ? [vector("rope_freqs.weight", { shape: [freqs.length], data: freqs })] : []),
    ...layers,
    vector("output_norm.weight", get("model.norm.weight")),
    ...(cfg.tieWordEmbeddings ? [] : [matrix("output.weight", get("lm_head.weight"))]),
  ];
  const metadata = new Map<string, GgufValue>([
    ["general.architecture", str(arch)],
    ["general.type", str("model")],
    ["general.name", str(opts.name ?? "tina-ts export")],
    ["general.file_type", u32(dtype === "F32" ? 0 : 1)],
    ["general.alignment", u32(ALIGNMENT)],
    ...archMetadata(cfg, arch),
    ...vocabularyMetadata(cfg, vocabulary),
  ]);
  return { metadata, tensors };
};

/**
 * A PEFT adapter as a GGUF LoRA for the same base: `blk.N.<proj>.weight.lora_a` [r, in] and
 * `.lora_b` [out, r]. llama.cpp scales by alpha / r, so rsLoRA's alpha / sqrt(r) is written as an
 * equivalent alpha.
 */
export const ggufLora = (cfg: ModelConfig, adapter: PeftAdapter): GgufFile => {
  const arch = GGUF_ARCH[cfg.architecture];
  const tensors = adapter.layers.flatMap((layer, i) =>
    (Object.entries(layer) as [Proj, { A: HostTensor; B: HostTensor }][]).flatMap((
      [proj, pair],
    ) => {
      const name = `blk.${i}.${GGUF_PROJ[proj]}.weight`;
      return [
        { name: `${name}.lora_a`, tensor: pair.A, type: "F32" as const },
        {
          name: `${name}.lora_b`,
          tensor: ropePermutation(cfg, proj)(pair.B),
          type: "F32" as const,
        },
      ];
    })
  );
  const metadata = new Map<string, GgufValue>([
    ["general.architecture", str(arch)],
    ["general.type", str("adapter")],
    ["general.name", str("tina-ts adapter")],
    ["general.alignment", u32(ALIGNMENT)],
    ["adapter.type", str("lora")],
    ["adapter.lora.alpha", f32(loraScaling(adapter.config) * adapter.config.r)],
  ]);
  return { metadata, tensors };
};

// ---------------------------------------------------------------------------------------------
// Vocabulary from a Hugging Face tokenizer.json

/** GPT-2's byte -> printable character table (the byte-level BPE alphabet llama.cpp decodes). */
const BYTE_TO_CHAR: readonly string[] = (() => {
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let extra = 0;
  return Array.from(
    { length: 256 },
    (_, b) => String.fromCodePoint(printable(b) ? b : 256 + extra++),
  );
})();

const byteLevel = (text: string): string =>
  Array.from(utf8.encode(text), (b) => BYTE_TO_CHAR[b]).join("");

interface TokenizerJson {
  readonly added_tokens?: readonly { id: number; content: string; special?: boolean }[];
  readonly pre_tokenizer?: unknown;
  readonly decoder?: unknown;
  readonly model?: {
    readonly type?: string;
    readonly vocab?: Record<string, number>;
    readonly merges?: readonly (string | readonly [string, string])[];
  };
}

/** Whether a tokenizer.json component (or a Sequence of them) is byte-level. */
const isByteLevel = (component: unknown): boolean => {
  const c = component as { type?: string; pretokenizers?: unknown[]; decoders?: unknown[] } | null;
  if (!c) return false;
  if (c.type === "ByteLevel") return true;
  return [...(c.pretokenizers ?? []), ...(c.decoders ?? [])].some(isByteLevel);
};

/**
 * The vocabulary of a BPE `tokenizer.json` for a model of `vocabSize` rows: texts of a
 * non-byte-level vocabulary are mapped to GPT-2's byte alphabet (llama.cpp's `gpt2` model decodes
 * them back), special added tokens become control tokens, and rows past the tokenizer are unused
 * `[PAD<i>]` tokens as in convert_hf_to_gguf.py.
 */
export const ggufVocabulary = (
  tokenizerJson: unknown,
  vocabSize: number,
  special: {
    readonly bos: number | null;
    readonly eos: readonly number[];
    readonly pad: number | null;
  },
  file = "tokenizer.json",
): GgufVocabulary => {
  const json = tokenizerJson as TokenizerJson;
  if (json?.model?.type !== "BPE" || typeof json.model.vocab !== "object") {
    throw new Error(`${file}: GGUF export supports BPE tokenizers (model.type "BPE" with a vocab)`);
  }
  const tokens: (string | undefined)[] = new Array(vocabSize).fill(undefined);
  const types = new Array<number>(vocabSize).fill(5);
  const encode = isByteLevel(json.pre_tokenizer) || isByteLevel(json.decoder)
    ? (t: string) => t
    : byteLevel;
  const place = (id: number, text: string, type: number) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new Error(
        `${file}: token ${JSON.stringify(text)} has id ${id}, outside 0..${vocabSize - 1}`,
      );
    }
    tokens[id] = text;
    types[id] = type;
  };
  for (const [text, id] of Object.entries(json.model.vocab)) place(id, encode(text), 1);
  for (const t of json.added_tokens ?? []) place(t.id, t.content, t.special ? 3 : 4);
  const merges = (json.model.merges ?? []).map((m) =>
    typeof m === "string" ? m : `${m[0]} ${m[1]}`
  );
  return {
    tokens: tokens.map((t, i) => t ?? `[PAD${i}]`),
    tokenTypes: types,
    merges,
    bosTokenId: special.bos,
    eosTokenIds: special.eos,
    padTokenId: special.pad,
  };
};
