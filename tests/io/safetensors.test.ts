import { test } from "uvu";
import * as assert from "uvu/assert";
import { Buffer } from "node:buffer";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  decodeSafetensors,
  encodeSafetensors,
  type HostTensor,
  MAX_HEADER_BYTES,
  openSafetensors,
  readSafetensors,
  writeSafetensors,
  writeSafetensorsStreamed,
} from "../../lib/io/mod.ts";
import { fixture, rejectsWith, withTempDir } from "./helpers.ts";

const tiny = (name: string) => fixture(`qwen2-tiny/${name}`);
const bitsOf = (data: Float32Array) => new Uint32Array(data.slice().buffer);

/** A safetensors file from a raw header (object or text) and data; the length can lie. */
const rawFile = (header: unknown, data = new Uint8Array(), length?: number): Uint8Array => {
  const json = new TextEncoder().encode(
    typeof header === "string" ? header : JSON.stringify(header),
  );
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(length ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
};

test("reads the F32 model: 27 tensors, shapes and metadata", async () => {
  const { floats, ints, metadata } = await readSafetensors(tiny("model.safetensors"));
  assert.is(floats.size, 27);
  assert.is(ints.size, 0);
  assert.equal(metadata, { format: "pt" });
  assert.equal(floats.get("model.embed_tokens.weight")!.shape, [64, 32]);
  assert.equal(floats.get("model.layers.1.self_attn.k_proj.weight")!.shape, [16, 32]);
  assert.equal(floats.get("model.layers.1.self_attn.k_proj.bias")!.shape, [16]);
  const norm = floats.get("model.norm.weight")!.data;
  assert.ok(norm.every(Number.isFinite) && norm.some((x) => x !== 0));
});

test("BF16 and F16 files decode to the F32 weights within their precision", async () => {
  const f32 = (await readSafetensors(tiny("model.safetensors"))).floats;
  for (
    const [file, relative, absolute] of [
      ["model_bf16.safetensors", 2 ** -8, 0],
      ["model_f16.safetensors", 2 ** -11, 2 ** -25],
    ] as const
  ) {
    const low = (await readSafetensors(tiny(file))).floats;
    assert.equal([...low.keys()].sort(), [...f32.keys()].sort(), file);
    for (const [name, { shape, data }] of low) {
      const exact = f32.get(name)!;
      assert.equal(shape, exact.shape, `${file} ${name}`);
      const worst = data.reduce(
        (w, x, i) => Math.max(w, Math.abs(x - exact.data[i]) - Math.abs(exact.data[i]) * relative),
        -Infinity,
      );
      assert.ok(worst <= absolute, `${file} ${name}: error beyond rounding by ${worst}`);
    }
  }
});

test("writing the F32 weights reproduces the reference writer's F32, BF16 and F16 files", async () => {
  const { floats, metadata } = await readSafetensors(tiny("model.safetensors"));
  for (
    const [dtype, file] of [
      ["F32", "model.safetensors"],
      ["BF16", "model_bf16.safetensors"],
      ["F16", "model_f16.safetensors"],
    ] as const
  ) {
    // Same header bytes, same layout, and PyTorch's round-to-nearest-even bits.
    const ours = encodeSafetensors(floats, { dtype, metadata });
    assert.ok(
      Buffer.from(ours).equals(await readFile(tiny(file))),
      `${dtype} bytes differ from ${file}`,
    );
  }
});

test("golden.safetensors: I64 ids decode to Int32Array and match golden.json", async () => {
  const golden = JSON.parse(await readFile(tiny("golden.json"), "utf8"));
  const { floats, ints, metadata } = await readSafetensors(tiny("golden.safetensors"));
  assert.is(metadata.producer, "independent PyTorch reference");
  const ids = ints.get("input_ids")!;
  assert.ok(ids.data instanceof Int32Array);
  assert.equal(ids.shape, [2, 7]);
  assert.equal(Array.from(ids.data), golden.values.input_ids.flat());
  assert.equal(Array.from(ints.get("greedy_lora")!.data), golden.values.greedy_lora);
  for (
    const [name, { shape }] of Object.entries(golden.tensors as Record<string, { shape: number[] }>)
  ) {
    assert.equal((floats.get(name) ?? ints.get(name))!.shape, shape, name);
  }
  assert.is(floats.get("loss_lora")!.shape.length, 0);
  assert.ok(Math.abs(floats.get("loss_lora")!.data[0] - golden.values.loss_lora) < 1e-6);
});

test("openSafetensors reads the header only, then single tensors lazily", async () => {
  const lazy = await openSafetensors(tiny("golden.safetensors"));
  const all = await readSafetensors(tiny("golden.safetensors"));
  assert.is(lazy.tensors.size, all.floats.size + all.ints.size);
  assert.equal(lazy.tensors.get("input_ids")!.dtype, "I64");
  assert.equal(await lazy.readInt("input_ids"), all.ints.get("input_ids"));
  assert.equal(
    bitsOf((await lazy.read("logits_lora")).data),
    bitsOf(all.floats.get("logits_lora")!.data),
  );
  await rejectsWith(() => lazy.read("input_ids"), ["golden.safetensors", '"input_ids"', "I64"]);
  await rejectsWith(() => lazy.read("nope"), ["golden.safetensors", '"nope"']);
  await rejectsWith(() => readSafetensors(tiny("model.safetensors"), ["lm_head.weight", "nope"]), [
    "model.safetensors",
    'no tensor "nope"',
  ]);
});

test("write then read is bit-identical, with metadata, and re-encodes to the same bytes", async () => {
  await withTempDir(async (dir) => {
    const source = await readSafetensors(tiny("model.safetensors"));
    const path = join(dir, "copy.safetensors");
    await writeSafetensors(path, source.floats, { metadata: source.metadata });
    const copy = await readSafetensors(path);
    assert.equal(copy.metadata, source.metadata);
    for (const [name, tensor] of source.floats) {
      assert.equal(copy.floats.get(name)!.shape, tensor.shape);
      assert.equal(bitsOf(copy.floats.get(name)!.data), bitsOf(tensor.data), name);
    }
    const bytes = new Uint8Array(await readFile(path));
    assert.is(new DataView(bytes.buffer).getUint32(0, true) % 8, 0, "header padded to 8 bytes");
    assert.equal(encodeSafetensors(copy.floats, { metadata: copy.metadata }), bytes);
  });
});

test("special values survive BF16/F16 writes; ties round to even", () => {
  const specials = [0, -0, Infinity, -Infinity, NaN];
  const round = (dtype: "BF16" | "F16", values: number[]) => {
    const x = { shape: [values.length], data: new Float32Array(values) };
    const bytes = encodeSafetensors(new Map([["x", x]]), { dtype });
    return Array.from(
      decodeSafetensors(bytes, "x.safetensors", { allowNonFinite: true }).floats.get("x")!.data,
    );
  };
  for (const dtype of ["BF16", "F16"] as const) {
    const back = round(dtype, specials);
    assert.equal(back.slice(0, 4), [0, -0, Infinity, -Infinity], dtype);
    assert.ok(Object.is(back[1], -0) && Number.isNaN(back[4]), dtype);
  }
  // bf16 keeps 7 mantissa bits, f16 10: a value halfway between two goes to the even one.
  assert.equal(round("BF16", [1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20]), [
    1,
    1 + 2 ** -6,
    1 + 2 ** -7,
  ]);
  assert.equal(round("F16", [1 + 2 ** -11, 1 + 3 * 2 ** -11, 65504, 65520, 2 ** -24, 2 ** -25]), [
    1,
    1 + 2 ** -9,
    65504,
    Infinity,
    2 ** -24,
    0,
  ]);
});

const writeBad = async (dir: string, bytes: Uint8Array) => {
  const path = join(dir, "bad.safetensors");
  await writeFile(path, bytes);
  return path;
};
const f32Entry = (shape: number[], begin: number, end: number) => ({
  dtype: "F32",
  shape,
  data_offsets: [begin, end],
});

test("each malformed file is an error naming the file and the tensor at fault", async () => {
  await withTempDir(async (dir) => {
    const cases: [Uint8Array, string[]][] = [
      [new Uint8Array(5), ["bad.safetensors", "truncated"]],
      [rawFile({}, new Uint8Array(), 500), [
        "bad.safetensors",
        "header length 500",
        "past the end",
      ]],
      [rawFile({}, new Uint8Array(), MAX_HEADER_BYTES + 1), ["bad.safetensors", "cap"]],
      [rawFile("{not json"), ["bad.safetensors", "invalid JSON"]],
      [rawFile("[1, 2]"), ["bad.safetensors", "not a JSON object"]],
      [rawFile({ w: { dtype: "F8_E4M3", shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)), [
        'tensor "w"',
        '"dtype"',
        "F8_E4M3",
      ]],
      [rawFile({ w: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)), [
        'tensor "w"',
        'field "shape.0"',
        "got -1",
      ]],
      [rawFile({ w: f32Entry([2, 3], 0, 20) }, new Uint8Array(20)), [
        'tensor "w"',
        "[2, 3]",
        "24 bytes",
      ]],
      [rawFile({ a: f32Entry([2], 0, 8), b: f32Entry([2], 4, 12) }, new Uint8Array(12)), [
        '"b" overlaps',
        '"a"',
      ]],
      [rawFile({ a: f32Entry([2], 0, 8), b: f32Entry([2], 12, 20) }, new Uint8Array(20)), [
        "hole of 4 bytes",
        '"b"',
      ]],
      [rawFile({ a: f32Entry([2], 0, 8), b: f32Entry([4], 8, 24) }, new Uint8Array(16)), [
        "truncated",
        '"b"',
      ]],
      [rawFile({ a: f32Entry([2], 0, 8) }, new Uint8Array(12)), ["4 unexplained bytes", '"a"']],
      [rawFile({ a: f32Entry([2], 8, 0) }, new Uint8Array(8)), ['tensor "a"', "end before"]],
      [rawFile({ __metadata__: { n: 1 }, a: f32Entry([2], 0, 8) }, new Uint8Array(8)), [
        '"__metadata__"',
      ]],
      [
        rawFile(
          { ids: { dtype: "I64", shape: [1], data_offsets: [0, 8] } },
          new Uint8Array([0, 0, 0, 0, 1, 0, 0, 0]),
        ),
        [
          'tensor "ids"',
          "int32",
        ],
      ],
    ];
    for (const [bytes, parts] of cases) {
      const path = await writeBad(dir, bytes);
      await rejectsWith(() => readSafetensors(path), [path, ...parts]);
    }
    await rejectsWith(() => readSafetensors(join(dir, "absent.safetensors")), [
      "absent.safetensors",
      "cannot open",
    ]);
  });
});

test("the reference reader's rules: exactly two offsets, no repeated name, bounded nesting", async () => {
  await withTempDir(async (dir) => {
    const two = f32Entry([2], 0, 8);
    const cases: [Uint8Array, string[]][] = [
      [rawFile({ a: { ...two, data_offsets: [0, 8, 16] } }, new Uint8Array(8)), [
        'tensor "a"',
        'field "data_offsets"',
        "exactly two",
      ]],
      [rawFile('{"a": ' + JSON.stringify(two) + ', "a": ' + JSON.stringify(two) + "}"), [
        'tensor "a" is listed twice',
      ]],
      // The same name spelled with an escape is still the same name.
      [rawFile('{"a": ' + JSON.stringify(two) + ', "\\u0061": ' + JSON.stringify(two) + "}"), [
        'tensor "a" is listed twice',
      ]],
      [rawFile(`{"a": ${"[".repeat(100_000)}${"]".repeat(100_000)}}`), [
        "nests 100001 levels deep",
      ]],
    ];
    for (const [bytes, parts] of cases) {
      const path = await writeBad(dir, bytes);
      await rejectsWith(() => readSafetensors(path), [path, ...parts]);
    }
    await rejectsWith(() => readSafetensors(dir), [dir, "is a directory"]);
  });
});

test("errors quote file-supplied text at most MAX_QUOTED_CHARS long, never the whole value", async () => {
  await withTempDir(async (dir) => {
    const longName = "w".repeat(1_000_000);
    const path = await writeBad(
      dir,
      rawFile({ [longName]: { dtype: "F32", shape: [1], data_offsets: "x".repeat(100_000) } }),
    );
    let message = "";
    await readSafetensors(path).catch((e: Error) => (message = e.message));
    assert.ok(message.startsWith(path), message.slice(0, 200));
    assert.ok(message.includes("1000002 characters"), message.slice(0, 400));
    assert.ok(message.length < path.length + 600, `message has ${message.length} characters`);
  });
});

test("zero-size tensors are valid, and many of them read in linear time", () => {
  const count = 20_000;
  const header = Object.fromEntries(
    Array.from({ length: count }, (_, i) => [`z${i}`, f32Entry([0], 0, 0)]),
  );
  const started = performance.now();
  const { floats } = decodeSafetensors(rawFile(header), "zeros.safetensors");
  assert.is(floats.size, count);
  assert.ok(performance.now() - started < 5000, "20,000 empty tensors read within 5 s");
});

/** One-tensor files whose single value has the given raw bits. */
const oneValue = (dtype: "F32" | "F16" | "BF16", bits: number): Uint8Array => {
  const data = dtype === "F32" ? new Uint32Array([bits]) : new Uint16Array([bits, 0]);
  const shape = [dtype === "F32" ? 1 : 2];
  return rawFile(
    { w: { dtype, shape, data_offsets: [0, 4] } },
    new Uint8Array(data.buffer),
  );
};

test("NaN (quiet or signalling) and infinities are refused by default, naming tensor and count", () => {
  const cases = [
    ["F32", 0x7fc00000],
    ["F32", 0x7f800001], // signalling NaN
    ["F32", 0xff800000], // -Inf
    ["F16", 0x7c00],
    ["F16", 0x7d00], // signalling NaN
    ["BF16", 0xff80],
    ["BF16", 0x7f81], // signalling NaN
  ] as const;
  for (const [dtype, bits] of cases) {
    const bytes = oneValue(dtype, bits);
    assert.throws(
      () => decodeSafetensors(bytes, "bad.safetensors"),
      (e: Error) =>
        e.message.startsWith("bad.safetensors: ") && e.message.includes('tensor "w": 1 of') &&
        e.message.includes("NaN or infinite"),
      `${dtype} 0x${bits.toString(16)}`,
    );
    const allowed = decodeSafetensors(bytes, "bad.safetensors", { allowNonFinite: true });
    assert.not.ok(Number.isFinite(allowed.floats.get("w")!.data[0]), `${dtype} loads when allowed`);
  }
  // The largest finite values pass.
  for (const [dtype, bits] of [["F32", 0x7f7fffff], ["F16", 0x7bff], ["BF16", 0xff7f]] as const) {
    assert.ok(Number.isFinite(decodeSafetensors(oneValue(dtype, bits)).floats.get("w")!.data[0]));
  }
});

test("a streamed write gives the same bytes, reading each tensor only when written", async () => {
  await withTempDir(async (dir) => {
    const source = await readSafetensors(tiny("model.safetensors"));
    const [whole, streamed] = [join(dir, "whole.safetensors"), join(dir, "lazy.safetensors")];
    await writeSafetensors(whole, source.floats, { metadata: source.metadata });
    const held: Float32Array[] = [];
    const lazy = new Map(
      [...source.floats].map(([name, { shape, data }]) => [name, {
        shape,
        read: () => {
          // The previous tensor's values are on disk by now, and freed where the runtime can.
          const canFree = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer ===
            "function";
          if (canFree) assert.ok(held.every((x) => x.length === 0), `before ${name}`);
          held.push(data.slice());
          return Promise.resolve(held.at(-1)!);
        },
      }]),
    );
    await writeSafetensorsStreamed(streamed, lazy, { metadata: source.metadata });
    assert.is(held.length, source.floats.size, "each tensor read once");
    assert.equal(await readFile(streamed), await readFile(whole));
    const short = new Map([["w", {
      shape: [2, 2],
      read: () => Promise.resolve(new Float32Array(3)),
    }]]);
    const path = join(dir, "bad.safetensors");
    await rejectsWith(() => writeSafetensorsStreamed(path, short), [path, 'tensor "w"', "[2, 2]"]);
    assert.equal((await readdir(dir)).sort(), ["lazy.safetensors", "whole.safetensors"]);
  });
});

test("writing refuses data that does not match its shape, naming the tensor and file", async () => {
  await withTempDir(async (dir) => {
    const bad: HostTensor = { shape: [2, 2], data: new Float32Array(3) };
    const path = join(dir, "out.safetensors");
    await rejectsWith(() => writeSafetensors(path, new Map([["w", bad]])), [
      path,
      'tensor "w"',
      "[2, 2]",
    ]);
    assert.equal(await readdir(dir), [], "no file and no temp dir left behind");
  });
});

test.run();
