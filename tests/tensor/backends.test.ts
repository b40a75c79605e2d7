// Every backend available on this runtime agrees with the pure-TS backend, kernel by kernel and
// on a small LoRA MLP's loss and gradients. "Within tol" means |got - want| <= tol * max(|want|,
// peak), peak being the largest finite magnitude in the expected tensor.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { valueAndGrad } from "../../lib/autodiff/grad.ts";
import * as ops from "../../lib/autodiff/ops.ts";
import { type Tensor, tensor, toArray, toArraySync } from "../../lib/autodiff/tensor.ts";
import { foldIn, normal, prngKey, uniform } from "../../lib/random/prng.ts";
import {
  availableBackends,
  type Backend,
  loadBackend,
  tsBackend,
} from "../../lib/tensor/backends.ts";
import type {
  BinaryOp,
  CompareOp,
  DType,
  HostArray,
  Kernels,
  Shape,
  UnaryOp,
} from "../../lib/tensor/kernels.ts";
import { broadcastShapes, matmulShape, sizeOf } from "../../lib/tensor/shape.ts";
import { loadTfjsBackend } from "../../lib/tensor/tfjs/kernels.ts";

const runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";
type GpuNavigator = { gpu?: { requestAdapter(): Promise<unknown> } };
const gpu = (globalThis.navigator as GpuNavigator | undefined)?.gpu;
const hasAdapter = gpu !== undefined && (await gpu.requestAdapter()) !== null;
const available = await availableBackends();
if (runtime === "deno" && !hasAdapter) {
  console.log("note: no WebGPU adapter here, webgpu not tested (see .ci/install-webgpu.sh)");
}
const others: Backend[] = await Promise.all(
  available.filter((n) => n !== "ts").map((n) => loadBackend(n)),
);
/** Enough for every backend here, WebGPU on software Vulkan (lavapipe) included. */
const tolerance = 1e-5;

/** A mismatch description, or null when `got` matches `want` within tol. */
const mismatch = (got: ArrayLike<number>, want: ArrayLike<number>, tol: number): string | null => {
  if (got.length !== want.length) return `${got.length} values, want ${want.length}`;
  let peak = 0;
  for (let i = 0; i < want.length; i++) {
    if (Number.isFinite(want[i])) peak = Math.max(peak, Math.abs(want[i]));
  }
  for (let i = 0; i < want.length; i++) {
    const [g, w] = [got[i], want[i]];
    if (Object.is(g, w) || g === w) continue;
    if (!Number.isFinite(w) || Math.abs(g - w) > tol * Math.max(Math.abs(w), peak)) {
      return `at ${i}: got ${g}, want ${w}`;
    }
  }
  return null;
};

const assertClose = (
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: number,
  what: string,
) => {
  const bad = mismatch(got, want, tol);
  if (bad) assert.unreachable(`${what}: ${bad}`);
};

const hasFfi = runtime !== "node";

test("availableBackends: ts, tfjs-cpu and tfjs-wasm everywhere, native where an FFI is, webgpu where an adapter is", () => {
  assert.equal(available, [
    "ts",
    ...(hasFfi ? ["native"] : []),
    "tfjs-cpu",
    "tfjs-wasm",
    ...(hasAdapter ? ["webgpu"] : []),
  ]);
});

test("webgpu loads where an adapter is, and otherwise says why not", async () => {
  const loaded = await loadBackend("webgpu").then((b) => b, (e: Error) => e);
  if (hasAdapter) assert.is((loaded as Backend).name, "webgpu");
  else {
    const why = gpu === undefined ? /needs Deno/ : /found no adapter/;
    assert.match(String((loaded as Error).message), why);
  }
});

test("each backend declares its capabilities: synchronous reads on the CPU, not on WebGPU", async () => {
  const declared = Object.fromEntries(
    await Promise.all(
      available.map(async (name) => [name, (await loadBackend(name)).capabilities]),
    ),
  );
  const cpu = { syncReads: true, deviceMemory: false };
  assert.equal(declared, {
    ts: cpu,
    ...(hasFfi ? { native: cpu } : {}),
    "tfjs-cpu": cpu,
    "tfjs-wasm": cpu,
    ...(hasAdapter ? { webgpu: { syncReads: false, deviceMemory: true } } : {}),
  });
  // Declared, not sniffed: a backend that says it cannot read synchronously is taken at its word.
  const asyncOnly: Backend = { ...tsBackend, capabilities: { ...cpu, syncReads: false } };
  assert.throws(() => toArraySync(tensor(asyncOnly, [1], [1])), /only reads back asynchronously/);
  assert.equal(Array.from(toArraySync(tensor(tsBackend, [1], [1]))), [1]);
});

test("loading a backend twice gives the same backend (tensors of both can meet)", async () => {
  assert.is(await loadBackend("tfjs-cpu"), await loadBackend("tfjs-cpu"));
});

// ---------------------------------------------------------------------------------------------
// Kernel by kernel

interface Input {
  readonly data: HostArray;
  readonly shape: Shape;
}
interface KernelCase {
  readonly name: string;
  readonly inputs: readonly Input[];
  readonly out: Shape;
  readonly dtype?: DType;
  // deno-lint-ignore no-explicit-any
  readonly run: (k: Kernels<any>, h: readonly any[]) => unknown;
}

const root = prngKey(20250415);
let draws = 0;
const nextKey = () => foldIn(root, draws++);
const randn = (shape: Shape, std = 1): Input => ({
  data: normal(nextKey(), sizeOf(shape), 0, std),
  shape,
});
const positive = (shape: Shape): Input => ({
  data: uniform(nextKey(), sizeOf(shape), 0.2, 3),
  shape,
});
/** Small whole numbers as floats, so comparisons meet ties. */
const whole = (shape: Shape): Input => ({
  data: Float32Array.from(normal(nextKey(), sizeOf(shape)), (v) => Math.round(2 * v)),
  shape,
});
const ints = (shape: Shape, lo: number, hi: number): Input => ({
  data: Int32Array.from(uniform(nextKey(), sizeOf(shape), lo, hi), Math.floor),
  shape,
});
const mask = (shape: Shape): Input => ({
  data: Float32Array.from(normal(nextKey(), sizeOf(shape)), (v) => (v > 0 ? 1 : 0)),
  shape,
});

const unaryOps: readonly UnaryOp[] = [
  "neg",
  "exp",
  "log",
  "sqrt",
  "rsqrt",
  "square",
  "abs",
  "sigmoid",
  "silu",
  "tanh",
  "relu",
  "step",
];
const binaryOps: readonly BinaryOp[] = ["add", "sub", "mul", "div", "maximum", "minimum", "pow"];
const compareOps: readonly CompareOp[] = ["greater", "greaterEqual", "less", "lessEqual", "equal"];

const binaryCase = (op: BinaryOp, a: Input, b: Input, dtype: DType = "float32"): KernelCase => {
  const out = broadcastShapes(op, a.shape, b.shape);
  return {
    name: `binary ${op} ${dtype} [${a.shape}] [${b.shape}]`,
    inputs: [a, b],
    out,
    dtype,
    run: (k, [x, y]) => k.binary(op, x, a.shape, y, b.shape, out, dtype),
  };
};

const matmulCase = (aShape: Shape, bShape: Shape, tA: boolean, tB: boolean): KernelCase => ({
  name: `matmul [${aShape}] [${bShape}] tA=${tA} tB=${tB}`,
  inputs: [randn(aShape), randn(bShape)],
  out: matmulShape(aShape, bShape, tA, tB),
  run: (k, [a, b]) => k.matmul(a, aShape, b, bShape, tA, tB),
});

const reduceCase = (op: "sum" | "max", x: Input, axes: readonly number[]): KernelCase => ({
  name: `reduce ${op} [${x.shape}] axes [${axes}] ${x.data instanceof Int32Array ? "int32" : ""}`,
  inputs: [x],
  out: x.shape.map((d, i) => (axes.includes(i) ? 1 : d)),
  run: (k, [h]) => k.reduce(op, h, x.shape, axes),
});

const gatherCase = (x: Input, indices: Input, axis: number): KernelCase => ({
  name: `gather [${x.shape}] indices [${indices.shape}] axis ${axis}`,
  inputs: [x, indices],
  out: [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)],
  dtype: x.data instanceof Int32Array ? "int32" : "float32",
  run: (k, [h, i]) => k.gather(h, x.shape, i, indices.shape, axis),
});

const scatterCase = (out: Shape, indices: Input, axis: number): KernelCase => {
  const uShape = [...out.slice(0, axis), ...indices.shape, ...out.slice(axis + 1)];
  return {
    name: `scatterAdd into [${out}] indices [${indices.shape}] axis ${axis}`,
    inputs: [randn(uShape), indices],
    out,
    run: (k, [u, i]) => k.scatterAdd(u, uShape, i, indices.shape, axis, out),
  };
};

/** Rows of large logits with one masked (-Infinity) entry. */
const logits = (): Input => {
  const x = randn([3, 7], 10);
  const data = Float32Array.from(x.data);
  data[9] = -Infinity;
  return { data, shape: x.shape };
};

const sliceInput = randn([2, 3, 4]);
const cases: readonly KernelCase[] = [
  ...unaryOps.map((op): KernelCase => {
    const x = ["log", "sqrt", "rsqrt"].includes(op) ? positive([3, 5]) : randn([3, 5], 2);
    return {
      name: `unary ${op}`,
      inputs: [x],
      out: x.shape,
      run: (k, [h]) => k.unary(op, h, x.shape),
    };
  }),
  ...binaryOps.flatMap((op) => {
    const base = (shape: Shape) => (op === "pow" ? positive(shape) : randn(shape));
    return [
      binaryCase(op, base([2, 3, 4]), randn([3, 1])),
      binaryCase(op, base([4]), randn([2, 1, 4])),
      binaryCase(op, base([3, 4]), randn([])),
    ];
  }),
  binaryCase("add", ints([3, 4], -9, 9), ints([4], -9, 9), "int32"),
  binaryCase("mul", ints([3, 4], -9, 9), ints([3, 1], -9, 9), "int32"),
  binaryCase("div", ints([3, 4], -20, 20), ints([4], 1, 6), "int32"),
  ...compareOps.flatMap((op) =>
    [[whole([3, 4]), whole([4])], [ints([2, 3], -2, 2), ints([2, 1], -2, 2)]].map(([a, b]) => {
      const out = broadcastShapes(op, a.shape, b.shape);
      return {
        name: `compare ${op} [${a.shape}] [${b.shape}]`,
        inputs: [a, b],
        out,
        run: (k, [x, y]) => k.compare(op, x, a.shape, y, b.shape, out),
      } satisfies KernelCase;
    })
  ),
  {
    name: "where [3,1] ? [3,4] : []",
    inputs: [mask([3, 1]), randn([3, 4]), randn([])],
    out: [3, 4],
    run: (k, [c, a, b]) => k.where(c, [3, 1], a, [3, 4], b, [], [3, 4]),
  },
  {
    name: "where [2,3,4] ? [4] : [2,3,4]",
    inputs: [mask([2, 3, 4]), randn([4]), randn([2, 3, 4])],
    out: [2, 3, 4],
    run: (k, [c, a, b]) => k.where(c, [2, 3, 4], a, [4], b, [2, 3, 4], [2, 3, 4]),
  },
  ...(["sum", "max"] as const).flatMap((op) =>
    [[1], [0, 2], [0, 1, 2], [2], []].map((axes) => reduceCase(op, randn([2, 3, 4]), axes))
  ),
  reduceCase("sum", ints([3, 4], -5, 5), [0]),
  reduceCase("max", ints([3, 4], -5, 5), [1]),
  {
    name: "broadcastTo [3,1] -> [2,3,4]",
    inputs: [randn([3, 1])],
    out: [2, 3, 4],
    run: (k, [x]) => k.broadcastTo(x, [3, 1], [2, 3, 4]),
  },
  {
    name: "broadcastTo int32 [4] -> [3,4]",
    inputs: [ints([4], -5, 5)],
    out: [3, 4],
    dtype: "int32",
    run: (k, [x]) => k.broadcastTo(x, [4], [3, 4]),
  },
  ...[false, true].flatMap((tA) =>
    [false, true].flatMap((tB) => [
      matmulCase(tA ? [4, 3] : [3, 4], tB ? [5, 4] : [4, 5], tA, tB),
      matmulCase(tA ? [2, 4, 3] : [2, 3, 4], tB ? [2, 5, 4] : [2, 4, 5], tA, tB),
      matmulCase(tA ? [2, 4, 3] : [2, 3, 4], tB ? [5, 4] : [4, 5], tA, tB),
    ])
  ),
  matmulCase([17, 33], [33, 9], false, false),
  {
    name: "reshape [2,3,4] -> [6,4]",
    inputs: [randn([2, 3, 4])],
    out: [6, 4],
    run: (k, [x]) => k.reshape(x, [2, 3, 4], [6, 4]),
  },
  {
    name: "reshape to the same shape (stopGradient's copy)",
    inputs: [randn([2, 3])],
    out: [2, 3],
    run: (k, [x]) => k.reshape(x, [2, 3], [2, 3]),
  },
  {
    name: "transpose [2,3,4] perm [2,0,1]",
    inputs: [randn([2, 3, 4])],
    out: [4, 2, 3],
    run: (k, [x]) => k.transpose(x, [2, 3, 4], [2, 0, 1]),
  },
  {
    name: "transpose int32 [3,4]",
    inputs: [ints([3, 4], -9, 9)],
    out: [4, 3],
    dtype: "int32",
    run: (k, [x]) => k.transpose(x, [3, 4], [1, 0]),
  },
  {
    name: "slice [2,3,4] at [0,1,1] size [2,2,3]",
    inputs: [sliceInput],
    out: [2, 2, 3],
    run: (k, [x]) => k.slice(x, [2, 3, 4], [0, 1, 1], [2, 2, 3]),
  },
  {
    name: "pad [2,3] by [[1,0],[2,1]]",
    inputs: [randn([2, 3])],
    out: [3, 6],
    run: (k, [x]) => k.pad(x, [2, 3], [[1, 0], [2, 1]]),
  },
  {
    name: "concat [2,3] [2,1] [2,2] on axis 1",
    inputs: [randn([2, 3]), randn([2, 1]), randn([2, 2])],
    out: [2, 6],
    run: (k, xs) => k.concat(xs, [[2, 3], [2, 1], [2, 2]], 1),
  },
  {
    name: "concat int32 [1,3] [2,3] on axis 0",
    inputs: [ints([1, 3], 0, 9), ints([2, 3], 0, 9)],
    out: [3, 3],
    dtype: "int32",
    run: (k, xs) => k.concat(xs, [[1, 3], [2, 3]], 0),
  },
  gatherCase(randn([5, 3]), { data: Int32Array.from([4, 0, 4, 2]), shape: [4] }, 0),
  gatherCase(randn([2, 5, 3]), ints([2, 2], 0, 5), 1),
  gatherCase(randn([2, 5]), { data: Int32Array.from([3]), shape: [] }, 1),
  gatherCase(ints([6, 2], -9, 9), ints([3], 0, 6), 0),
  scatterCase([5, 3], { data: Int32Array.from([4, 0, 4, 2]), shape: [4] }, 0),
  scatterCase([2, 5, 3], { data: Int32Array.from([1, 1, 4, 0]), shape: [2, 2] }, 1),
  scatterCase([3, 2, 6], ints([5], 0, 6), 2),
  { name: "softmax", inputs: [logits()], out: [3, 7], run: (k, [x]) => k.softmax(x, [3, 7]) },
  { name: "logSoftmax", inputs: [logits()], out: [3, 7], run: (k, [x]) => k.logSoftmax(x, [3, 7]) },
  { name: "cumsum", inputs: [randn([3, 7])], out: [3, 7], run: (k, [x]) => k.cumsum(x, [3, 7]) },
  { name: "fill float32", inputs: [], out: [2, 3], run: (k) => k.fill([2, 3], 1.5, "float32") },
  {
    name: "fill int32 scalar",
    inputs: [],
    out: [],
    dtype: "int32",
    run: (k) => k.fill([], 7, "int32"),
  },
  {
    name: "cast float32 -> int32 truncates",
    inputs: [randn([3, 4], 5)],
    out: [3, 4],
    dtype: "int32",
    run: (k, [x]) => k.cast(x, [3, 4], "float32", "int32"),
  },
  {
    name: "cast int32 -> float32",
    inputs: [ints([5], -100, 100)],
    out: [5],
    run: (k, [x]) => k.cast(x, [5], "int32", "float32"),
  },
];

/**
 * Runs a case and reads its output back; then frees the output and checks every input is
 * intact, which fails if a kernel handed back (or shares ownership of) an input.
 */
// deno-lint-ignore no-explicit-any
const runCase = async (k: Kernels<any>, c: KernelCase): Promise<HostArray> => {
  const handles = c.inputs.map((x) => k.upload(x.data, x.shape));
  const out = c.run(k, handles);
  const result = await k.download(out, c.out, c.dtype ?? "float32");
  k.dispose(out);
  for (const [i, x] of c.inputs.entries()) {
    const dtype = x.data instanceof Int32Array ? "int32" : "float32";
    const back = await k.download(handles[i], x.shape, dtype);
    assert.equal(Array.from(back), Array.from(x.data), `${c.name}: input ${i} changed`);
    k.dispose(handles[i]);
  }
  return result;
};

for (const backend of others) {
  for (const c of cases) {
    test(`${backend.name} ${c.name} agrees with ts`, async () => {
      const want = await runCase(tsBackend.kernels, c);
      const got = await runCase(backend.kernels, c);
      assert.ok(
        got instanceof (want instanceof Int32Array ? Int32Array : Float32Array),
        `${c.name}: ${got.constructor.name}, want ${want.constructor.name}`,
      );
      assertClose(got, want, tolerance, `${backend.name} ${c.name}`);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// A composite graph: two-layer MLP with a LoRA branch, SiLU, log-softmax and gathered targets

const dims = { batch: 4, input: 6, hidden: 8, rank: 2, vocab: 5 };
const hostParams = {
  w1: randn([dims.hidden, dims.input], 0.5),
  a: randn([dims.rank, dims.input], 0.5),
  b: randn([dims.hidden, dims.rank], 0.5),
  w2: randn([dims.vocab, dims.hidden], 0.5),
};
const hostX = randn([dims.batch, dims.input]);
const targets = Int32Array.from([1, 4, 0, 4]);

interface MlpParams {
  readonly w1: Tensor;
  readonly a: Tensor;
  readonly b: Tensor;
  readonly w2: Tensor;
}

const mlpLoss = (x: Tensor, flatTargets: Tensor) => (p: MlpParams): Tensor => {
  const base = ops.matmul(x, p.w1, { transposeB: true });
  const lora = ops.matmul(ops.matmul(x, p.a, { transposeB: true }), p.b, { transposeB: true });
  const h = ops.silu(ops.add(base, ops.mul(lora, 0.5)));
  const logProbs = ops.logSoftmax(ops.matmul(h, p.w2, { transposeB: true }));
  const picked = ops.gather(ops.reshape(logProbs, [-1]), flatTargets, 0);
  return ops.neg(ops.mean(picked));
};

const mlpOn = async (backend: Backend) => {
  const up = (x: Input) => tensor(backend, x.data, x.shape);
  const flat = Int32Array.from(targets, (t, i) => i * dims.vocab + t);
  const params = {
    w1: up(hostParams.w1),
    a: up(hostParams.a),
    b: up(hostParams.b),
    w2: up(hostParams.w2),
  };
  const { value, grads } = valueAndGrad(mlpLoss(up(hostX), tensor(backend, flat, [dims.batch])))(
    params,
  );
  const keys = ["w1", "a", "b", "w2"] as const;
  return {
    value: await toArray(value),
    grads: Object.fromEntries(
      await Promise.all(keys.map(async (k) => [k, await toArray(grads[k])])),
    ),
  };
};

for (const backend of others) {
  test(`${backend.name} LoRA MLP loss and gradients agree with ts`, async () => {
    const want = await mlpOn(tsBackend);
    const got = await mlpOn(backend);
    assertClose(got.value, want.value, tolerance, "loss");
    for (const k of Object.keys(want.grads)) {
      assertClose(got.grads[k], want.grads[k], tolerance, `grad ${k}`);
    }
    assert.ok(
      want.grads.a.some((v: number) => v !== 0),
      "the LoRA A gradient is not trivially zero",
    );
  });
}

test("tfjs-cpu and tfjs-wasm tensors stay usable while the other backend runs", async () => {
  const [cpu, wasm] = await Promise.all([loadBackend("tfjs-cpu"), loadBackend("tfjs-wasm")]);
  const a = tensor(cpu, [1, 2, 3], [3]);
  const b = tensor(wasm, [10, 20, 30], [3]);
  const c = ops.mul(a, 2);
  const d = ops.add(b, b);
  const e = ops.add(c, a);
  assert.equal(Array.from(await toArray(e)), [3, 6, 9]);
  assert.equal(Array.from(await toArray(ops.sub(d, b))), [10, 20, 30]);
});

// ---------------------------------------------------------------------------------------------
// The binding limit

const limited = await Promise.all(
  ["tfjs-cpu" as const, ...(hasAdapter ? ["webgpu" as const] : [])].map((name) =>
    loadTfjsBackend(name, { maxBindingBytes: 64 })
  ),
);

for (const backend of limited) {
  test(`${backend.name} with a 64-byte binding limit rejects oversize tensors by op and shape`, async () => {
    const col = tensor(backend, new Float32Array(16).fill(1), [16, 1]);
    const row = tensor(backend, new Float32Array(16).fill(2), [1, 16]);
    assert.equal(Array.from(await toArray(ops.matmul(row, col))), [32]);
    assert.throws(() => ops.matmul(col, row), /matmul: output \[16, 16\] needs 1024 bytes/);
    assert.throws(() => tensor(backend, new Float32Array(17), [17]), /upload: output \[17\]/);
    assert.throws(() => ops.concat([col, col], 0), /concat: output \[32, 1\]/);
  });
}

test.run();
