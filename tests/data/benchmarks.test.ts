import { test } from "uvu";
import * as assert from "uvu/assert";
import { fileURLToPath } from "node:url";
import { readFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { readJsonl } from "../../lib/io/jsonl.ts";

const benchmarkPath = (file: string) =>
  fileURLToPath(new URL(`../../data/benchmarks/${file}`, import.meta.url));

// The shipped files and their row counts.
const benchmarks: Record<string, number> = { aime24: 30, aime25: 30, amc23: 40, math500: 500 };

// sha256 of the files as copied from the provenance-checked originals: any edit shows here.
const sha256: Record<string, string> = {
  aime24: "3cd5b1291caf8425bb6ccf99562238dd1f1f9d942923868ccc1ac1f157664dbd",
  aime25: "51ceef9ddef3f8d3d3777b2f6dd20426a6ccf348d8135c9762b045345f6d4d1c",
  amc23: "cd38a631b8ef43091399e852c40e9c3e92ab67ea973953192f322ca6f927c5e7",
  math500: "98f97d685bf679d27ef396af3a8089f27b5fdfa8487c5c3a7962c950a48b6e8b",
};

test("the README's table lists exactly these files and counts", async () => {
  const readme = await readFile(benchmarkPath("README.md"), "utf8");
  const listed = [...readme.matchAll(/^\| (\w+)\.jsonl \| (\d+) \|/gm)];
  assert.equal(
    Object.fromEntries(listed.map(([, name, rows]) => [name, Number(rows)])),
    benchmarks,
  );
});

for (const [name, rows] of Object.entries(benchmarks)) {
  test(`${name}.jsonl parses with no errors and has ${rows} rows`, async () => {
    const { examples, errors } = await readJsonl(benchmarkPath(`${name}.jsonl`), {
      onError: "skip",
    });
    assert.equal(errors, []);
    assert.is(examples.length, rows);
    assert.ok(examples.every((e) => typeof e.answer === "string" && e.answer !== ""));
    assert.is(new Set(examples.map((e) => e.id)).size, rows, "ids are unique");
    const bytes = await readFile(benchmarkPath(`${name}.jsonl`));
    assert.is(createHash("sha256").update(bytes).digest("hex"), sha256[name]);
  });
}

test.run();
