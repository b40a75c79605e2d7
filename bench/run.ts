/**
 * Benchmark entry point. Runs every suite (or those named by --suite) on every backend that
 * loads here (or those named by --backend), prints a table with each figure's ratio to
 * tfjs-cpu on the same runtime, and merges the rows into bench/results/latest.json, replacing
 * only the (suite, backend, runtime) combinations measured now.
 *
 *   bun bench/run.ts | deno run -A bench/run.ts | npx tsx bench/run.ts
 *     [--suite matmul,forward,decode,train-step,rewards] [--backend ts,tfjs-cpu] [--profile]
 *
 * --profile: suites that support it (train-step, decode) also print their slowest kernels.
 * The model suites' shapes come from bench/shape.json (shared with bench/compare-pytorch).
 */
import { mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { type Backend, loadBackend } from "../lib/tensor/backends.ts";
import { backendNames } from "../lib/tensor/kernels.ts";
import { writeFileAtomic } from "../lib/io/atomic.ts";
import { decodeSuite } from "./decode.ts";
import { forwardSuite } from "./forward.ts";
import { matmulSuite } from "./matmul.ts";
import { rewardsSuite } from "./rewards.ts";
import {
  type Measurement,
  RATIO_UNIT,
  type ResultRow,
  type Suite,
  type SuiteOptions,
} from "./suite.ts";
import { trainStepSuite } from "./train_step.ts";

const suites: readonly Suite[] = [
  matmulSuite,
  forwardSuite,
  decodeSuite,
  trainStepSuite,
  rewardsSuite,
];
/** The backend column of suites that measure host code only. */
const HOST = "host";
const REFERENCE_BACKEND = "tfjs-cpu";
const resultsPath = fileURLToPath(new URL("./results/latest.json", import.meta.url));

interface Runtime {
  readonly Deno?: { readonly args: readonly string[] };
  readonly Bun?: unknown;
  readonly process?: { readonly argv: readonly string[] };
}
const host = globalThis as Runtime;
const runtime = host.Deno ? "deno" : host.Bun ? "bun" : "node";
const args: readonly string[] = host.Deno?.args ?? host.process?.argv.slice(2) ?? [];

/** The comma-separated values of `--flag a,b` or `--flag=a,b`, or null when absent. */
const listFlag = (flag: string): string[] | null => {
  const at = args.findIndex((a) => a === flag || a.startsWith(`${flag}=`));
  if (at < 0) return null;
  const value = args[at].includes("=") ? args[at].split("=")[1] : args[at + 1];
  if (!value) throw new Error(`${flag} needs a value`);
  return value.split(",");
};

const choose = <T>(flag: string, all: readonly T[], nameOf: (t: T) => string): T[] => {
  const wanted = listFlag(flag);
  if (!wanted) return [...all];
  const unknown = wanted.filter((w) => !all.some((t) => nameOf(t) === w));
  if (unknown.length > 0) {
    throw new Error(
      `${flag}: unknown ${unknown.join(", ")}; choose from ${all.map(nameOf).join(", ")}`,
    );
  }
  return all.filter((t) => wanted.includes(nameOf(t)));
};

const loadAvailable = async (names: readonly string[]): Promise<Backend[]> => {
  const loaded: Backend[] = [];
  for (const name of names) {
    try {
      loaded.push(await loadBackend(name));
    } catch (e) {
      console.log(`skipping backend ${name}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  return loaded;
};

const readPrevious = async (): Promise<ResultRow[]> => {
  try {
    return JSON.parse(await readFile(resultsPath, "utf8")) as ResultRow[];
  } catch {
    return []; // no results yet
  }
};

const comboOf = (r: ResultRow): string => `${r.suite}\u0000${r.backend}\u0000${r.runtime}`;

/**
 * Speed-up over the reference backend on this runtime (from this run or the saved file); none
 * for figures that are ratios themselves.
 */
const ratioOf = (row: ResultRow, better: boolean, rows: readonly ResultRow[]): string => {
  if (row.unit === RATIO_UNIT) return "-";
  const ref = rows.find((r) =>
    r.backend === REFERENCE_BACKEND && r.suite === row.suite && r.runtime === row.runtime &&
    r.shape === row.shape && r.unit === row.unit
  );
  if (!ref || ref.figure === 0 || row.figure === 0) return "-";
  return `${(better ? row.figure / ref.figure : ref.figure / row.figure).toFixed(2)}x`;
};

const printTable = (rows: readonly (readonly string[])[]): void => {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  rows.forEach((r) => console.log(r.map((cell, c) => cell.padEnd(widths[c])).join("  ")));
};

const main = async (): Promise<void> => {
  const chosenSuites = choose("--suite", suites, (s) => s.name);
  const options: SuiteOptions = { profile: args.includes("--profile") };
  const backends = await loadAvailable(choose("--backend", backendNames, (n) => n));
  const measured: { row: ResultRow; m: Measurement }[] = [];
  for (const suite of chosenSuites) {
    // A host-only suite still gets a backend argument; it runs once, on the first one.
    for (const backend of suite.hostOnly ? backends.slice(0, 1) : backends) {
      const backendName = suite.hostOnly ? HOST : backend.name;
      console.log(`running ${suite.name} on ${backendName} (${runtime})…`);
      const ms = await suite.run(backend, options);
      ms.forEach((m) => {
        const { higherIsBetter: _, ...figures } = m;
        measured.push({
          row: { suite: suite.name, backend: backendName, runtime, ...figures },
          m,
        });
      });
    }
  }
  const fresh = measured.map(({ row }) => row);
  const replaced = new Set(fresh.map(comboOf));
  const kept = (await readPrevious()).filter((r) => !replaced.has(comboOf(r)));
  const all = [...kept, ...fresh];

  printTable([
    [
      "suite",
      "backend",
      "runtime",
      "shape",
      "figure",
      "unit",
      "samples",
      `vs ${REFERENCE_BACKEND}`,
    ],
    ...measured.map(({ row, m }) => [
      row.suite,
      row.backend,
      row.runtime,
      row.shape,
      row.figure.toFixed(2),
      row.unit,
      String(row.samples),
      ratioOf(row, m.higherIsBetter, all),
    ]),
  ]);
  await mkdir(dirname(resultsPath), { recursive: true });
  await writeFileAtomic(resultsPath, JSON.stringify(all, null, 2) + "\n");
  console.log(`wrote ${fresh.length} rows to ${resultsPath}`);
};

await main();
