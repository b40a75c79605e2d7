import { test } from "uvu";
import * as assert from "uvu/assert";
import { formatTable, majAtK, meanPassAt1, passAtK, summarize } from "../../lib/eval/metrics.ts";

const close = (actual: number, expected: number, what = "") =>
  assert.ok(Math.abs(actual - expected) < 1e-12, `${what} ${actual} != ${expected}`);

/** The definition, with exact binomials: fine for small n. */
const choose = (n: number, k: number): number => {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
};

test("passAtK matches hand-computed values", () => {
  close(passAtK(5, 2, 1), 0.4);
  close(passAtK(5, 2, 2), 1 - 3 / 10); // C(3,2)/C(5,2) = 3/10
  close(passAtK(4, 1, 2), 0.5);
  assert.is(passAtK(5, 2, 5), 1); // k = n: some correct sample is always drawn
  assert.is(passAtK(5, 2, 4), 1); // n - c < k
  assert.is(passAtK(5, 0, 1), 0);
  assert.is(passAtK(5, 0, 5), 0);
  assert.is(passAtK(5, 5, 1), 1);
});

test("passAtK equals 1 - C(n-c,k)/C(n,k) and stays finite for large n", () => {
  for (let n = 1; n <= 12; n++) {
    for (let c = 0; c <= n; c++) {
      for (let k = 1; k <= n; k++) {
        close(passAtK(n, c, k), 1 - choose(n - c, k) / choose(n, k), `n=${n} c=${c} k=${k}`);
      }
    }
  }
  const big = passAtK(2000, 3, 200); // C(2000, 200) overflows a double
  assert.ok(Number.isFinite(big) && big > 0 && big < 1);
  close(big, 1 - (1800 * 1799 * 1798) / (2000 * 1999 * 1998));
});

test("passAtK refuses arguments outside its domain", () => {
  assert.throws(() => passAtK(5, 6, 1), /c must be/);
  assert.throws(() => passAtK(5, 2, 6), /k must be/);
  assert.throws(() => passAtK(5, 2, 0), /k must be/);
  assert.throws(() => passAtK(0, 0, 1), /n must be/);
});

test("meanPassAt1 averages per-problem accuracy, not per-sample", () => {
  close(meanPassAt1([[true, false], [true, true, true, false]]), (0.5 + 0.75) / 2);
  assert.throws(() => meanPassAt1([]), /no problems/);
  assert.throws(() => meanPassAt1([[true], []]), /problem 1 has no samples/);
});

test("majAtK: plurality of the first k answers; ties go to the first seen", () => {
  assert.is(majAtK(["3", "4", "4", "3", "3"], "4", 3), true);
  assert.is(majAtK(["3", "4", "4", "3", "3"], "4", 5), false);
  assert.is(majAtK(["3", "4"], "3", 2), true); // tie: "3" came first
  assert.is(majAtK(["3", "4"], "4", 2), false);
  assert.is(majAtK(["4", "3", "3", "4"], "4", 4), true);
  assert.is(majAtK([null, null, "5"], "5", 3), true); // no answer, no vote
  assert.is(majAtK([null, null], "5", 2), false);
  assert.throws(() => majAtK(["1"], "1", 2), /k must be/);
});

test("majAtK groups answers with the given equality", () => {
  const numeric = (a: string, b: string) => Number(a) === Number(b);
  assert.is(majAtK(["025", "7", "25"], "25", 3), false);
  assert.is(majAtK(["025", "7", "25"], "25", 3, numeric), true);
});

test("summarize averages pass@1, pass@k and maj@k over problems", () => {
  const row = summarize([
    { correct: [true, false, true, false], answers: ["1", "2", "1", "2"], gold: "1" },
    { correct: [false, false, false, true], answers: ["7", "7", null, "9"], gold: "9" },
  ], { k: 2 });
  assert.equal(
    { ...row, "pass@1": 0, "pass@k": 0 },
    { problems: 2, samples: 4, k: 2, "pass@1": 0, "pass@k": 0, "maj@k": 0.5 },
  );
  close(row["pass@1"], (0.5 + 0.25) / 2);
  close(row["pass@k"], (passAtK(4, 2, 2) + passAtK(4, 1, 2)) / 2);
  assert.is(summarize([{ correct: [true], answers: ["1"], gold: "1" }]).k, 1);
  assert.throws(
    () =>
      summarize([
        { correct: [true], answers: ["1"], gold: "1" },
        { correct: [true, true], answers: ["1", "1"], gold: "1" },
      ]),
    /problem 1 has 2 results/,
  );
});

test("formatTable aligns columns: text left, numbers right", () => {
  const table = formatTable([
    { benchmark: "aime24", problems: 30, "pass@1": 0.4 },
    { benchmark: "math500", problems: 500, "pass@1": 0.12345 },
  ]);
  assert.is(
    table,
    [
      "benchmark  problems  pass@1",
      "---------  --------  ------",
      "aime24           30   0.400",
      "math500         500   0.123",
    ].join("\n"),
  );
});

test.run();
