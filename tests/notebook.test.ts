/**
 * examples/tina.ipynb runs: its code cells, in order, as one module under the current runtime
 * (the cells a Deno Jupyter kernel executes; `deno jupyter` is Deno-only, this covers Bun and
 * Node too, and on Deno also type-checks the cells). The module is written next to the notebook
 * and run with the notebook's folder as working directory, as Jupyter runs the kernel, so its
 * relative paths resolve alike. Before models/tiny-arith exists, the cells tagged "needs-model"
 * are left out, with a note.
 *
 * The real thing, with Jupyter and the Deno kernel (Debian packages), from the repository root:
 *   apt-get install -y jupyter-nbconvert python3-ipykernel && npx deno jupyter --install
 *   jupyter nbconvert --to notebook --execute examples/tina.ipynb --output /tmp/tina.ipynb
 * It exits non-zero when a cell throws (every check in the notebook is an assert). Deno 2.9's
 * kernel can deliver a cell's last console lines after the cell reports idle, and nbconvert then
 * drops them from the saved outputs: check outputs here, not in the executed notebook.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { runProcess, runtimeCommand } from "./helpers/runtime.ts";
import { existsSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const notebookPath = fileURLToPath(new URL("../examples/tina.ipynb", import.meta.url));
const modelDir = fileURLToPath(new URL("../models/tiny-arith", import.meta.url));
const MODEL_TAG = "needs-model";

interface Cell {
  readonly cell_type: string;
  readonly source: readonly string[];
  readonly metadata: { readonly tags?: readonly string[] };
  readonly outputs?: readonly unknown[];
  readonly execution_count?: number | null;
}

interface Notebook {
  readonly nbformat: number;
  readonly metadata: { readonly kernelspec?: Record<string, string> };
  readonly cells: readonly Cell[];
}

const readNotebook = async (): Promise<Notebook> =>
  JSON.parse(await readFile(notebookPath, "utf8")) as Notebook;

test("the notebook is nbformat 4 for the Deno kernel, saved without outputs", async () => {
  const nb = await readNotebook();
  assert.is(nb.nbformat, 4);
  assert.equal(nb.metadata.kernelspec, {
    name: "deno",
    display_name: "Deno",
    language: "typescript",
  });
  assert.ok(nb.cells.some((c) => c.cell_type === "code"), "has code cells");
  for (const [i, cell] of nb.cells.entries()) {
    assert.ok(["code", "markdown"].includes(cell.cell_type), `cell ${i}: ${cell.cell_type}`);
    assert.ok(Array.isArray(cell.source), `cell ${i}: source is a list of lines`);
    if (cell.cell_type === "code") {
      assert.equal(cell.outputs, [], `cell ${i}: no stored outputs`);
      assert.is(cell.execution_count, null, `cell ${i}: not executed`);
    }
  }
});

test("the notebook's code cells run in order as one module and print their results", async () => {
  const nb = await readNotebook();
  const hasModel = existsSync(join(modelDir, "config.json"));
  if (!hasModel) {
    console.log(
      `note: ${modelDir} does not exist yet: running only the cells not tagged "${MODEL_TAG}"`,
    );
  }
  // Each cell is headed by its notebook index, so an error in the module traces back to its cell.
  const cells = [...nb.cells.entries()].filter(([, c]) =>
    c.cell_type === "code" && (hasModel || !c.metadata.tags?.includes(MODEL_TAG))
  );
  const dir = dirname(notebookPath);
  const file = join(dir, `.tina-notebook-${process.pid}-${Date.now()}.ts`);
  await writeFile(file, cells.map(([i, c]) => `// cell ${i}\n${c.source.join("")}\n`).join("\n"));
  try {
    const [cmd, args] = runtimeCommand(file);
    const { code, output } = await runProcess(cmd, args, dir, 120_000);
    assert.is(code, 0, `exit code ${code}; output:\n${output}`);
    const expected = [
      /rewards: all checks passed/,
      ...(hasModel
        ? [
          /model: [\d,]+ parameters on tfjs-wasm/,
          /pass@1 on 5 held-out problems: \d\.\d\d/,
          /step 3: reward -?\d+\.\d+ {2}kl -?\d+\.\d+ {2}loss -?\d+\.\d+/,
          /base weights unchanged\nLoRA: [\d,]+ parameters trained/,
        ]
        : []),
    ];
    for (const marker of expected) assert.match(output, marker, `output:\n${output}`);
  } finally {
    await rm(file, { force: true });
  }
});

test.run();
