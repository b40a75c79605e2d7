import { test } from "uvu";
import * as assert from "uvu/assert";
import { isLeft, isRight } from "fp-ts/lib/Either.js";
import { copyFile, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  adapterFromTensors,
  adapterKey,
  adapterTensors,
  decodeLoraConfig,
  type HostTensor,
  loraScaling,
  type PeftAdapter,
  PROJS,
  readAdapter,
  readModelConfig,
  readSafetensors,
  TINA_LORA_CONFIG,
  writeAdapter,
} from "../../lib/io/mod.ts";
import { fixture, rejectsWith, withTempDir } from "./helpers.ts";

const bitsOf = (data: Float32Array) => new Uint32Array(data.slice().buffer);
const rawConfig = async () =>
  JSON.parse(await readFile(fixture("qwen2-tiny/adapter_config.json"), "utf8")) as Record<
    string,
    unknown
  >;
const configError = async (change: Record<string, unknown>): Promise<string> => {
  const decoded = decodeLoraConfig({ ...await rawConfig(), ...change }, "adapter_config.json");
  assert.ok(isLeft(decoded), `expected ${JSON.stringify(change)} to be refused`);
  return isLeft(decoded) ? decoded.left : "";
};

let fixtureAdapter: PeftAdapter | null = null;
let model: Awaited<ReturnType<typeof readModelConfig>>;
/** The fixture adapter, read once in test.before. */
const readAdapterSync = (): PeftAdapter => fixtureAdapter!;

const assertSameAdapter = (a: PeftAdapter, b: PeftAdapter) => {
  assert.equal(a.config, b.config);
  const [ta, tb] = [adapterTensors(a), adapterTensors(b)];
  assert.equal([...ta.keys()], [...tb.keys()]);
  for (const [key, tensor] of ta) {
    assert.equal(tb.get(key)!.shape, tensor.shape, key);
    assert.equal(bitsOf(tb.get(key)!.data), bitsOf(tensor.data), key);
  }
};

test.before(async () => {
  model = await readModelConfig(fixture("qwen2-tiny"));
  fixtureAdapter = await readAdapter(fixture("qwen2-tiny"), model);
});

test("reads the fixture adapters: every layer and projection, PEFT shapes, scaling", async () => {
  const golden = JSON.parse(await readFile(fixture("qwen2-tiny/golden.json"), "utf8"));
  const model = await readModelConfig(fixture("qwen2-tiny"));
  const adapter = await readAdapter(fixture("qwen2-tiny"), model);
  assert.is(adapter.config.r, golden.lora.r);
  assert.is(adapter.config.loraAlpha, golden.lora.lora_alpha);
  assert.equal(adapter.config.targetModules, PROJS);
  assert.is(adapter.layers.length, 2);
  for (const layer of adapter.layers) assert.equal(Object.keys(layer), PROJS);
  assert.equal(adapter.layers[0].k!.A.shape, [4, 32]);
  assert.equal(adapter.layers[0].k!.B.shape, [16, 4]);
  assert.equal(adapter.layers[1].down!.A.shape, [4, 64]);
  assert.ok(adapter.layers[1].down!.B.data.some((x) => x !== 0), "B is non-zero in the fixture");
  assert.is(loraScaling(adapter.config), golden.lora.scaling);
  const rslora = await readAdapter(fixture("qwen2-tiny/rslora"), model);
  assert.is(rslora.config.useRslora, true);
  assert.is(loraScaling(rslora.config), golden.lora.rslora_scaling);
  assert.equal(adapterTensors(rslora), adapterTensors(adapter), "same tensors, other scaling");
  const tiedModel = await readModelConfig(fixture("qwen2-tiny-tied"));
  const tied = await readAdapter(fixture("qwen2-tiny-tied"), tiedModel);
  assert.equal(tied.layers[0].q!.B.shape, [36, 4]);
  assert.equal(tied.layers[0].v!.B.shape, [12, 4]);
});

test("adapter keys match the gradient keys of golden.safetensors", async () => {
  const adapter = await readAdapter(fixture("qwen2-tiny"));
  const { floats } = await readSafetensors(fixture("qwen2-tiny/golden.safetensors"));
  const keys = [...adapterTensors(adapter).keys()];
  assert.is(keys.length, 28);
  assert.ok(keys.includes(adapterKey(1, "gate", "B")));
  for (const [key, tensor] of adapterTensors(adapter)) {
    assert.equal(floats.get(`grad.${key}`)?.shape, tensor.shape, key);
  }
});

test("write then read is bit-identical; the written config is PEFT's", async () => {
  await withTempDir(async (dir) => {
    for (const source of ["qwen2-tiny", "qwen2-tiny/rslora", "qwen2-tiny-tied"]) {
      const adapter = await readAdapter(fixture(source));
      const out = join(dir, source);
      await writeAdapter(out, adapter);
      assertSameAdapter(await readAdapter(out), adapter);
      // Byte for byte what PEFT (via the reference safetensors writer) saved.
      const original = await readFile(fixture(`${source}/adapter_model.safetensors`));
      const written = await readFile(join(out, "adapter_model.safetensors"));
      assert.ok(original.equals(written), `${source}: adapter bytes differ from PEFT's`);
      const json = JSON.parse(await readFile(join(out, "adapter_config.json"), "utf8"));
      const fixtureJson = await rawConfig();
      for (
        const field of [
          "peft_type",
          "task_type",
          "r",
          "lora_alpha",
          "target_modules",
          "bias",
          "fan_in_fan_out",
        ]
      ) {
        assert.equal(json[field], fixtureJson[field], field);
      }
    }
  });
});

test("config decoding: all-linear, defaults, and refusals naming the field", async () => {
  const allLinear = decodeLoraConfig({ ...await rawConfig(), target_modules: "all-linear" }, "x");
  assert.ok(isRight(allLinear) && allLinear.right.targetModules.length === 7);
  const some = decodeLoraConfig({
    peft_type: "LORA",
    r: 8,
    lora_alpha: 16,
    target_modules: ["v_proj", "q_proj"],
  }, "x");
  assert.ok(isRight(some));
  if (isRight(some)) {
    assert.equal(some.right.targetModules, ["q", "v"]);
    assert.equal([some.right.loraDropout, some.right.useRslora, some.right.taskType], [
      0,
      false,
      null,
    ]);
  }
  assert.is(
    await configError({ peft_type: "IA3" }),
    'adapter_config.json: field "peft_type": expected "LORA" (any other PEFT method is not supported), got "IA3"',
  );
  assert.match(await configError({ fan_in_fan_out: true }), 'field "fan_in_fan_out"');
  assert.match(await configError({ use_dora: true }), 'field "use_dora"');
  assert.match(await configError({ bias: "all" }), 'field "bias"');
  assert.match(await configError({ target_modules: ["lm_head"] }), 'field "target_modules"');
  assert.match(await configError({ rank_pattern: { q_proj: 8 } }), 'field "rank_pattern"');
  assert.match(await configError({ r: 0 }), 'field "r"');
  assert.match(await configError({ modules_to_save: ["lm_head"] }), 'field "modules_to_save"');
  assert.is(loraScaling(TINA_LORA_CONFIG), 4);
});

test("an adapter for another model is refused, naming the key and both shapes", async () => {
  const tiedModel = await readModelConfig(fixture("qwen2-tiny-tied"));
  await rejectsWith(() => readAdapter(fixture("qwen2-tiny"), tiedModel), [
    "adapter_model.safetensors",
    "base_model.model.model.layers.0.",
    "expected [",
  ]);
  const model = await readModelConfig(fixture("qwen2-tiny"));
  const adapter = await readAdapter(fixture("qwen2-tiny"));
  const tensors = adapterTensors(adapter);
  const oneLayer = { ...model, numHiddenLayers: 1 };
  await rejectsWith(() => adapterFromTensors(adapter.config, tensors, "a.safetensors", oneLayer), [
    'tensor "base_model.model.model.layers.1.',
    "the model has 1",
  ]);
});

test("bad adapter tensors are refused, naming the key", async () => {
  const adapter = await readAdapter(fixture("qwen2-tiny"));
  const tensors = adapterTensors(adapter);
  const without = (key: string) => new Map([...tensors].filter(([k]) => k !== key));
  const cases: [ReadonlyMap<string, HostTensor>, string[]][] = [
    [without(adapterKey(0, "q", "B")), [
      "1 of 28 LoRA tensors missing",
      `missing "${adapterKey(0, "q", "B")}"`,
    ]],
    [new Map([...tensors, ["base_model.model.lm_head.lora_A.weight", adapter.layers[0].q!.A]]), [
      'unexpected tensor "base_model.model.lm_head.lora_A.weight"',
    ]],
    [
      new Map([...tensors, [
        "base_model.model.model.layers.0.mlp.q_proj.lora_A.weight",
        adapter.layers[0].q!.A,
      ]]),
      [
        '"base_model.model.model.layers.0.mlp.q_proj.lora_A.weight"',
      ],
    ],
    [
      new Map([...tensors, [adapterKey(0, "q", "A"), {
        shape: [3, 32],
        data: new Float32Array(96),
      }]]),
      [
        `"${adapterKey(0, "q", "A")}" has shape [3, 32], expected [4, 32]`,
      ],
    ],
  ];
  for (const [broken, parts] of cases) {
    await rejectsWith(() => adapterFromTensors(adapter.config, broken, "a.safetensors"), [
      "a.safetensors",
      ...parts,
    ]);
  }
  const qOnly = { ...adapter.config, targetModules: ["q"] as const };
  await rejectsWith(() => adapterFromTensors(qOnly, tensors, "a.safetensors"), [
    "k_proj is not in target_modules",
  ]);
});

test("partial adapters are refused, listing what is missing; an empty one too", () => {
  const adapter = readAdapterSync();
  const tensors = adapterTensors(adapter);
  const keep = (drop: (key: string) => boolean) =>
    new Map([...tensors].filter(([key]) => !drop(key)));
  const cases: [ReadonlyMap<string, HostTensor>, string[]][] = [
    // One projection's A and B both gone: no dangling half to notice it by.
    [keep((key) => key.includes("layers.1.mlp.up_proj")), [
      "2 of 28 LoRA tensors missing",
      `missing "${adapterKey(1, "up", "A")}"`,
      `missing "${adapterKey(1, "up", "B")}"`,
    ]],
    // A whole layer gone (the last one too, when the model says how many there are).
    [keep((key) => key.includes("layers.0.")), ["14 of 28 LoRA tensors missing"]],
    [new Map(), ["no LoRA tensors"]],
  ];
  for (const [broken, parts] of cases) {
    assert.throws(
      () => adapterFromTensors(adapter.config, broken, "a.safetensors", model),
      (e: Error) => parts.every((part) => e.message.includes(part)) && e.message.startsWith("a."),
      parts[0],
    );
  }
  assert.throws(
    () => adapterFromTensors(adapter.config, keep((key) => key.includes("layers.1.")), "a", model),
    /14 of 28 LoRA tensors missing/,
  );
  // Without a model, a key claiming layer 10^9 is refused at once, naming the first missing keys.
  const far = new Map([[adapterKey(1e9, "q", "A"), adapter.layers[0].q!.A]]);
  assert.throws(
    () => adapterFromTensors(adapter.config, far, "a"),
    (e: Error) =>
      e.message.includes("14000000013 of 14000000014 LoRA tensors missing") &&
      e.message.includes(`missing "${adapterKey(0, "q", "A")}"`) && e.message.length < 2000,
  );
  // Without a model, layers must agree with each other on features.
  const wider = new Map([...tensors, [adapterKey(1, "q", "A"), {
    shape: [4, 33],
    data: new Float32Array(132),
  }]]);
  assert.throws(
    () => adapterFromTensors(adapter.config, wider, "a"),
    /layers\.1\.self_attn\.q_proj\.lora_A\.weight" has shape \[4, 33\], expected \[4, 32\]/,
  );
});

test("PEFT options that change what is adapted are refused by name", async () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ layers_to_transform: [0] }, "layers_to_transform"],
    [{ layers_to_transform: 1 }, "layers_to_transform"],
    [{ layers_pattern: "layers" }, "layers_pattern"],
    [{ layer_replication: [[0, 2]] }, "layer_replication"],
    [{ exclude_modules: ["q_proj"] }, "exclude_modules"],
    [{ target_parameters: ["mlp.experts"] }, "target_parameters"],
    [{ trainable_token_indices: [1, 2] }, "trainable_token_indices"],
    [{ use_qalora: true }, "use_qalora"],
    [{ alpha_pattern: { q_proj: 8 } }, "alpha_pattern"],
  ];
  for (const [change, field] of cases) {
    const message = await configError(change);
    assert.match(message, `field "${field}"`);
    assert.match(message, "is not supported");
  }
  // Their off values, as PEFT writes them, are accepted.
  const off = {
    layers_to_transform: null,
    layers_pattern: null,
    layer_replication: null,
    exclude_modules: null,
    target_parameters: [],
    trainable_token_indices: null,
    use_qalora: false,
  };
  assert.ok(isRight(decodeLoraConfig({ ...await rawConfig(), ...off }, "x")));
});

test("readAdapter names the file for a bad config on disk; writeAdapter refuses bad shapes", async () => {
  await withTempDir(async (dir) => {
    await copyFile(
      fixture("qwen2-tiny/adapter_model.safetensors"),
      join(dir, "adapter_model.safetensors"),
    );
    await writeFile(
      join(dir, "adapter_config.json"),
      JSON.stringify({ ...await rawConfig(), r: "four" }),
    );
    await rejectsWith(() => readAdapter(dir), [
      join(dir, "adapter_config.json"),
      'field "r"',
      '"four"',
    ]);
    const adapter = await readAdapter(fixture("qwen2-tiny"));
    const wrongRank = { ...adapter, config: { ...adapter.config, r: 8 } };
    await rejectsWith(() => writeAdapter(join(dir, "out"), wrongRank), [
      "adapter_model.safetensors",
      "expected [8,",
    ]);
  });
});

test.run();
