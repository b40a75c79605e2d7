/**
 * Dataset files in the layouts Hugging Face sets use: JSONL problem/answer, JSON
 * question/answer (numbers), Parquet problem/solution, and messages-style conversations;
 * column mapping and errors that name the file and the row.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readDataset } from "../../lib/io/dataset.ts";
import { goldAnswerOf } from "../../lib/eval/evaluate.ts";
import { checkGoldAnswers } from "../../lib/train/gold_check.ts";

const dir = fileURLToPath(new URL("./datasets/", import.meta.url));

test("JSONL with problem/answer (the built-in layout)", async () => {
  const d = await readDataset(fileURLToPath(new URL("./tiny.jsonl", import.meta.url)));
  assert.is(d.format, "jsonl");
  assert.is(d.problemColumn, "problem");
  assert.is(d.answerColumn, "answer");
  assert.equal(d.examples[1], { problem: "add 0 and 1", answer: "1" });
});

test("JSON array with question and numeric answers", async () => {
  const d = await readDataset(join(dir, "questions.json"));
  assert.is(d.format, "json");
  assert.is(d.problemColumn, "question");
  assert.equal(d.examples[0], { problem: "Compute 4+7+5.", answer: "16", level: 1 });
});

test("Parquet with problem/solution: graded by the solution's boxed answer", async () => {
  const d = await readDataset(join(dir, "problems.parquet"));
  assert.is(d.format, "parquet");
  assert.is(d.examples.length, 6);
  assert.is(d.examples[2].problem, "add 10 and 5");
  assert.is(d.examples[2].solution, "10 + 5 = 15, so \\boxed{15}");
  assert.is(goldAnswerOf(d.examples[2], 2), "15");
});

test("messages-style conversations: the user turn is the problem, the reply the solution", async () => {
  const d = await readDataset(join(dir, "messages.jsonl"));
  assert.is(d.problemColumn, "messages");
  assert.is(d.examples[0].problem, "Compute 6-5+1.");
  assert.is(goldAnswerOf(d.examples[0], 0), "2");
  assert.is(checkGoldAnswers(d.examples).unparsable.length, 0);
});

test("--problem-field / --answer-field pick columns; a missing column lists the columns", async () => {
  const tmp = await mkdtemp(join(tmpdir(), "tina-data-"));
  try {
    const path = join(tmp, "set.jsonl");
    await writeFile(path, '{"q": "Compute 1+1.", "gold": 2, "answer": "x"}\n');
    const d = await readDataset(path, { problemField: "q", answerField: "gold" });
    // The mapped column becomes `answer` (as text); other columns are kept for rewards.
    assert.equal(d.examples[0], { problem: "Compute 1+1.", gold: 2, answer: "2" });
    try {
      await readDataset(path);
      assert.unreachable("no problem column");
    } catch (e) {
      assert.match(
        (e as Error).message,
        /set\.jsonl: no problem column.*columns: q, gold, answer.*--problem-field/,
      );
    }
    try {
      await readDataset(path, { problemField: "q", answerField: "nope" });
      assert.unreachable("no such answer column");
    } catch (e) {
      assert.match((e as Error).message, /no column "nope"/);
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

test("bad rows name the file and line (JSONL) or row (JSON); skip mode keeps the rest", async () => {
  const tmp = await mkdtemp(join(tmpdir(), "tina-data-"));
  try {
    const jsonl = join(tmp, "a.jsonl");
    await writeFile(jsonl, '{"problem": "p1", "answer": "1"}\n\n{"problem": "p2"}\n{"probl\n');
    try {
      await readDataset(jsonl);
      assert.unreachable();
    } catch (e) {
      const lines = (e as Error).message.split("\n");
      assert.match(lines[0], /a\.jsonl:3: "answer" is missing/);
      assert.match(lines[1], /a\.jsonl:4: invalid JSON/);
    }
    const skipped = await readDataset(jsonl, { onError: "skip" });
    assert.is(skipped.examples.length, 1);
    assert.is(skipped.errors.length, 2);
    const unmapped = join(tmp, "u.jsonl");
    await writeFile(unmapped, '{"question": "p1", "final": "1"}\n');
    try {
      await readDataset(unmapped, { onError: "skip" });
      assert.unreachable();
    } catch (e) {
      // Every row skipped: the error still says why (here: the answer column to map).
      assert.match((e as Error).message, /no usable problems \(1 rows skipped; .*--answer-field/);
    }
    const json = join(tmp, "b.json");
    await writeFile(json, JSON.stringify({ data: [{ problem: "p", answer: 1 }, 7] }));
    try {
      await readDataset(json);
      assert.unreachable();
    } catch (e) {
      assert.match((e as Error).message, /b\.json: row 2: expected an object, got 7/);
    }
    await writeFile(join(tmp, "c.csv"), "problem,answer\n");
    try {
      await readDataset(join(tmp, "c.csv"));
      assert.unreachable();
    } catch (e) {
      assert.match(
        (e as Error).message,
        /unknown dataset format; expected \.jsonl, \.json, \.parquet/,
      );
    }
    await writeFile(join(tmp, "d.parquet"), "not parquet at all");
    try {
      await readDataset(join(tmp, "d.parquet"));
      assert.unreachable();
    } catch (e) {
      assert.match((e as Error).message, /d\.parquet: cannot read as Parquet/);
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

test("gold answers that never parse are found up front", () => {
  const check = checkGoldAnswers([
    { problem: "a", answer: "" },
    { problem: "b", answer: "42" },
  ]);
  assert.equal(check, { checked: 2, unparsable: [1] });
});

test.run();
