import { test } from "uvu";
import * as assert from "uvu/assert";
import { evaluateJson, unknownsOf } from "../../lib/rewards/mathjson.ts";

const at = new Map([["x", 2], ["y", 0.5]]);
const close = (got: readonly [number, number] | null, want: [number, number]) =>
  got !== null && Math.abs(got[0] - want[0]) < 1e-12 && Math.abs(got[1] - want[1]) < 1e-12;

test("arithmetic, powers, roots and functions at a point", () => {
  assert.ok(close(evaluateJson(["Add", ["Power", "x", 2], ["Multiply", 2, "x"], 1], at), [9, 0]));
  assert.ok(close(evaluateJson(["Divide", ["Sqrt", 3], 4], at), [Math.sqrt(3) / 4, 0]));
  assert.ok(close(evaluateJson(["Root", -8, 3], at), [-2, 0])); // the real cube root
  assert.ok(close(evaluateJson(["Log", 8, 2], at), [3, 0]));
  assert.ok(
    close(evaluateJson(["Add", ["Power", ["Tan", "y"], 2], 1], at), [1 / Math.cos(0.5) ** 2, 0]),
  );
  assert.ok(close(evaluateJson({ num: "1e+20" }, at), [1e20, 0]));
});

test("complex values: i, e^{iπ}, √−4", () => {
  assert.ok(close(evaluateJson(["Complex", 6, -5], at), [6, -5]));
  const euler = evaluateJson(["Power", "ExponentialE", ["Multiply", ["Complex", 0, 1], "Pi"]], at);
  assert.ok(euler !== null && Math.abs(euler[0] + 1) < 1e-12 && Math.abs(euler[1]) < 1e-12);
  assert.ok(close(evaluateJson(["Sqrt", -4], at), [0, 2]));
});

test("unknown operators, unbound variables and undefined values are null", () => {
  assert.is(evaluateJson(["Sum", "i", ["Limits", "j", 1, "n"]], at), null);
  assert.is(evaluateJson(["g", "x"], at), null);
  assert.is(evaluateJson("z", at), null);
  assert.is(evaluateJson(["Arcsin", 2], at), null);
  assert.is(evaluateJson(["Divide", 1, 2, 3], at), null);
});

test("free variables are the symbols that are not constants", () => {
  assert.equal([...unknownsOf(["Multiply", "Pi", ["Power", "r", 2], "ExponentialE"])], ["r"]);
});

test.run();
