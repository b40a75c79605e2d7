/** examples/cli.ts's flag parsing: node:util's complaints as one-line usage errors. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseFlags, UsageError } from "../../examples/cli.ts";

const options = { steps: { type: "string" }, full: { type: "boolean" } } as const;

const usageError = (argv: readonly string[]): UsageError => {
  try {
    parseFlags(argv, options);
  } catch (e) {
    assert.instance(e, UsageError);
    return e as UsageError;
  }
  throw new Error(`parseFlags accepted ${argv.join(" ")}`);
};

test("flags parse into their values", () => {
  assert.equal({ ...parseFlags(["--steps", "3", "--full"], options) }, { steps: "3", full: true });
  assert.equal({ ...parseFlags(["--steps=-1"], options) }, { steps: "-1" });
});

test("an unknown flag is one line naming it", () => {
  const { message } = usageError(["--stepz", "3"]);
  assert.match(message, /'--stepz'/);
  assert.not.match(message, /\n/);
});

test("a value starting with a dash keeps node's hint to write --flag=-value, on one line", () => {
  const { message } = usageError(["--steps", "-1"]);
  assert.match(message, /ambiguous/);
  assert.match(message, /'--steps=-XYZ'/);
  assert.not.match(message, /\n/);
});

test.run();
