import { test } from "uvu";
import * as assert from "uvu/assert";
import { Template } from "@huggingface/jinja";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { charTokenizerFiles, hfTokenizer, loadTokenizer } from "../../lib/tokenizer/mod.ts";
import { DEFAULT_TEMPLATE_BUDGET, renderTemplate } from "../../lib/tokenizer/template.ts";

const chat = [{ role: "user", content: "Compute 2*3." }];
const { tokenizer, config } = charTokenizerFiles({ alphabet: "abc" });
const withTemplate = (chatTemplate: string) =>
  hfTokenizer(tokenizer, { ...config, chat_template: chatTemplate });

/** The error `render` throws, and how long it took to come. */
const failure = (render: () => unknown): { message: string; ms: number } => {
  const started = performance.now();
  try {
    render();
  } catch (e) {
    return { message: (e as Error).message, ms: performance.now() - started };
  }
  throw new Error("expected the rendering to fail");
};

test("a template looping 10^7 times fails fast, naming the file and the budget", () => {
  const looping = withTemplate("{% for i in range(10000000) %}x{% endfor %}");
  const { message, ms } = failure(() => looping.applyChatTemplate(chat));
  assert.match(message, /^tokenizer_config\.json: chat template stopped: range\(\) of 10000000/);
  assert.ok(ms < 5000, `took ${ms.toFixed(0)} ms (range() refuses before allocating)`);
  // Nested loops, each within range()'s limit, with empty bodies (nothing evaluated per item):
  // every item still costs a step, so they run out of steps or time within a few seconds.
  const nested = withTemplate(
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
  );
  const { maxSteps, maxMilliseconds } = DEFAULT_TEMPLATE_BUDGET;
  const stopped = failure(() => nested.applyChatTemplate(chat));
  assert.match(
    stopped.message,
    new RegExp(`stopped: more than (${maxSteps} steps|${maxMilliseconds} ms)`),
  );
  assert.ok(stopped.ms < 4 * maxMilliseconds, `took ${stopped.ms.toFixed(0)} ms`);
});

test("a template doubling a string stops at the output budget, not at gigabytes", () => {
  const doubling = withTemplate(
    "{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(40) %}" +
      "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
  );
  const { message } = failure(() => doubling.applyChatTemplate(chat));
  assert.match(message, `more than ${DEFAULT_TEMPLATE_BUDGET.maxOutputChars} characters`);
});

test("the time budget holds on its own", () => {
  const template = new Template("{% for i in range(50000) %}{{ i }}{% endfor %}");
  const budget = { ...DEFAULT_TEMPLATE_BUDGET, maxMilliseconds: 0 };
  const { message } = failure(() => renderTemplate(template, {}, "t.jinja", budget));
  assert.is(
    message,
    "t.jinja: chat template stopped: more than 0 ms (the budget for one rendering)",
  );
  // Within budget, it renders as the library does.
  const small = new Template("{% for i in range(500) %}{{ i }}{% endfor %}");
  assert.is(renderTemplate(small, {}, "t.jinja"), small.render());
});

test("range() and strftime_now behave as in transformers", () => {
  const render = (source: string) => renderTemplate(new Template(source), {}, "t.jinja");
  assert.is(render("{{ range(3) | join(',') }}|{{ range(2, 8, 3) | join(',') }}"), "0,1,2|2,5");
  assert.is(render("{{ range(5, 0, -2) | join(',') }}|{{ range(3, 1) | length }}"), "5,3,1|0");
  assert.match(render("{{ strftime_now('%d %b %Y') }}"), /^\d\d [A-Z][a-z]{2} \d{4}$/);
  assert.is(
    failure(() => render("{{ range(1.5) | length }}")).message,
    "t.jinja: chat template failed: range() takes integers",
  );
});

test("errors inside chat_template.jinja are reported against that file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tina-template-"));
  try {
    await writeFile(join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
    await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify(config));
    const jinja = join(dir, "chat_template.jinja");
    await writeFile(jinja, "{% for m in messages %}{{ m.content }");
    const unparsable = await loadTokenizer(dir);
    const parse = failure(() => unparsable.applyChatTemplate(chat));
    assert.ok(parse.message.startsWith(`${jinja}: `), parse.message);
    await writeFile(jinja, "{{ raise_exception('no system role here') }}");
    const raising = await loadTokenizer(dir);
    assert.is(
      failure(() => raising.applyChatTemplate(chat)).message,
      `${jinja}: chat template failed: no system role here`,
    );
    await rm(jinja);
    await mkdir(jinja);
    let message = "";
    await loadTokenizer(dir).catch((e: Error) => (message = e.message));
    assert.is(message, `${jinja}: is a directory, expected a Jinja template file`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
