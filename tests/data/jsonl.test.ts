import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  appendJsonl,
  formatJsonl,
  parseJsonl,
  parseMetricsLog,
  readJsonl,
  writeJsonl,
} from "../../lib/io/jsonl.ts";

const text = [
  '{"id": "a", "problem": "1+1?", "answer": "2", "level": 1}',
  "",
  '{"problem": "Say hi.", "solution": "hi"}',
  '{"problem": "2+2?"}',
  "{not json",
  '{"problem": 5, "answer": "5"}',
  '{"problem": "3+3?", "answer": 6}',
  "   ",
].join("\r\n");

test("good lines become examples with their extra fields kept", () => {
  const { examples } = parseJsonl(text, "set.jsonl", { onError: "skip" });
  assert.equal(examples, [
    { id: "a", problem: "1+1?", answer: "2", level: 1 },
    { problem: "Say hi.", solution: "hi" },
    { problem: "3+3?", answer: "6" }, // numeric answers become strings
  ]);
});

test("bad lines are reported with file name and 1-based line number", () => {
  const { errors } = parseJsonl(text, "set.jsonl", { onError: "skip" });
  assert.equal(errors.map((e) => e.line), [4, 5, 6]);
  assert.match(errors[0].message, /^set\.jsonl:4: needs an "answer" or a "solution"/);
  assert.match(errors[1].message, /^set\.jsonl:5: invalid JSON/);
  assert.is(errors[2].message, 'set.jsonl:6: field "problem": expected string, got 5');
});

test("onError throw (the default) refuses the file, listing the bad lines", () => {
  assert.throws(
    () => parseJsonl(text, "set.jsonl"),
    (e: Error) =>
      e.message.split("\n").length === 3 && /set\.jsonl:4:/.test(e.message) &&
      /set\.jsonl:6:/.test(e.message),
  );
  const good = parseJsonl('{"problem": "p", "answer": "a"}\n', "ok.jsonl");
  assert.equal(good.errors, []);
  assert.is(good.examples.length, 1);
});

test("a file of many bad lines lists ten and counts the rest", () => {
  const bad = Array.from({ length: 25 }, () => "[]").join("\n");
  assert.throws(() => parseJsonl(bad, "bad.jsonl"), /bad\.jsonl:10:[^]*and 15 more bad lines$/);
});

test("write, append and read back through files", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tina-jsonl-"));
  try {
    const path = join(dir, "rows.jsonl");
    const rows = [{ problem: "a\nb", answer: "1" }, { problem: "c", solution: "d", step: 2 }];
    await writeJsonl(path, rows.slice(0, 1));
    await appendJsonl(path, rows[1]);
    assert.is(await readFile(path, "utf8"), formatJsonl(rows));
    assert.equal((await readJsonl(path)).examples, rows);
    await writeFile(path, '{"problem": "x"}\n');
    assert.is((await readJsonl(path, { onError: "skip" })).errors.length, 1);
    const failure = await readJsonl(path).then(() => null, (e: Error) => e.message);
    assert.match(failure ?? "", `${path}:1: needs`);
    const missing = await readJsonl(join(dir, "nope.jsonl")).then(
      () => "",
      (e: Error) => e.message,
    );
    assert.match(missing, "nope.jsonl: cannot read");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a metrics log with a torn last line is repaired, saying so; damage before it is refused", () => {
  const torn = '{"step": 1, "reward": 0.5}\n{"step": 2, "reward": 0.7}\n{"step": 3, "rew';
  const { rows, repaired } = parseMetricsLog(torn, "m.jsonl");
  assert.equal(rows.map((r) => r.step), [1, 2]);
  assert.equal(repaired, ["m.jsonl:3: torn last line dropped (the run was stopped mid-write)"]);
  assert.equal(parseMetricsLog('{"step": 1}\n\n', "m.jsonl").repaired, []);
  assert.throws(
    () => parseMetricsLog('{"step": 1}\n{"ste\n{"step": 3}\n', "m.jsonl"),
    /m\.jsonl:2: not a metrics row/,
  );
});

test.run();
