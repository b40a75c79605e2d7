/**
 * Spreading groups over servers: round robin, a failed server's groups moved to the others
 * (connection reset, HTTP 500, timeout, a short answer), and one error naming every endpoint
 * when all fail — never fewer completions than asked.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { postForJson, sampleGroups } from "../../lib/rollout/groups.ts";
import { llamaCppProtocol } from "../../lib/rollout/engines.ts";
import type { GroupRequest } from "../../lib/rollout/protocol.ts";
import { fakeServer } from "./helpers.ts";

const sampling = {
  temperature: 1,
  topP: 1,
  topK: null,
  minP: 0,
  maxTokens: 4,
  stopTokens: [2],
  logprobsAfterTemperature: false,
};
const groups: GroupRequest[] = Array.from({ length: 6 }, (_, i) => ({
  prompt: [1, 10 + i],
  n: 3,
  seed: 100 + i,
  adapter: null,
  sampling,
}));

/** A llama.cpp-shaped answer whose tokens encode the prompt, so groups can be told apart. */
const llamaAnswer = (body: { prompt: number[]; n_cmpl: number }) =>
  Array.from({ length: body.n_cmpl }, (_, i) => ({
    index: i,
    tokens: [body.prompt[1], i],
    completion_probabilities: [{ id: body.prompt[1], logprob: -0.5 }, { id: i, logprob: -1 }],
    stop_type: "limit",
  }));

const protocol = llamaCppProtocol();
const send = (timeoutMs: number) => async (endpoint: string, group: GroupRequest) => {
  const { path, body } = protocol.request(group);
  return protocol.parse(await postForJson(`${endpoint}${path}`, body, timeoutMs), group);
};

const healthy = () => fakeServer((_p, body) => ({ body: llamaAnswer(body as never) }));

test("groups are spread round robin, each group's completions from one server", async () => {
  const [a, b] = [await healthy(), await healthy()];
  try {
    const out = await sampleGroups(groups, [a.url, b.url], send(5000));
    assert.is(out.completions.length, 6);
    out.completions.forEach((g, i) => {
      assert.is(g.length, 3);
      g.forEach((c) => assert.is(c.tokens[0], 10 + i, "group order kept"));
    });
    assert.equal(out.servedBy, [a.url, b.url, a.url, b.url, a.url, b.url]);
    assert.is(a.requests.length, 3);
    assert.is(out.failures.size, 0);
  } finally {
    await a.close();
    await b.close();
  }
});

for (
  const [what, failure] of [
    ["connection reset (a killed server)", () => "reset" as const],
    ["HTTP 500", () => ({ status: 500, body: "boom" })],
    [
      "a short answer",
      (_p: string, body: unknown) => ({ body: llamaAnswer(body as never).slice(1) }),
    ],
    ["a timeout", () => "hang" as const],
  ] as const
) {
  test(`${what}: the failed server's groups are served by the other`, async () => {
    const bad = await fakeServer(failure);
    const good = await healthy();
    try {
      const out = await sampleGroups(groups, [bad.url, good.url], send(3000));
      assert.ok(out.servedBy.every((u) => u === good.url));
      assert.ok(out.completions.every((g) => g.length === 3));
      assert.ok(out.failures.has(bad.url));
    } finally {
      await bad.close();
      await good.close();
    }
  });
}

test("every server failing is one error naming every endpoint", async () => {
  const a = await fakeServer(() => ({ status: 503, body: "loading" }));
  const b = await fakeServer(() => "reset");
  try {
    const err = await sampleGroups(groups, [a.url, b.url], send(2000)).then(
      () => null,
      (e: Error) => e,
    );
    assert.ok(err, "must fail");
    assert.match(err!.message, a.url);
    assert.match(err!.message, b.url);
    assert.match(err!.message, /503/);
  } finally {
    await a.close();
    await b.close();
  }
});

test("no endpoints at all is an error", async () => {
  const err = await sampleGroups(groups, [], send(100)).catch((e: Error) => e);
  assert.match(String(err), /no inference endpoints/);
});

test.run();
