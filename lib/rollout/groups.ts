/**
 * Spreading a step's groups over several endpoints: a group's G completions come from one
 * server; a server that fails (refused, reset, timed out, malformed answer) is dropped for the
 * rest of the step and its groups go to the others; if every server fails, one error names them
 * all. Every group ends with exactly G completions or the step fails: never fewer.
 */
import type { Completion, GroupRequest } from "./protocol.ts";

export type SendGroup = (
  endpoint: string,
  group: GroupRequest,
) => Promise<readonly Completion[]>;

export interface GroupOutcome {
  readonly completions: readonly (readonly Completion[])[];
  /** Which endpoint served each group. */
  readonly servedBy: readonly string[];
  /** Endpoints dropped during this call, with why. */
  readonly failures: ReadonlyMap<string, string>;
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export const sampleGroups = async (
  groups: readonly GroupRequest[],
  endpoints: readonly string[],
  send: SendGroup,
): Promise<GroupOutcome> => {
  if (endpoints.length === 0) throw new Error("rollout: no inference endpoints are available");
  const failures = new Map<string, string>();
  const servedBy: string[] = new Array(groups.length);
  const runGroup = async (group: GroupRequest, i: number): Promise<readonly Completion[]> => {
    // Start at endpoint i mod E (round robin); on failure walk to the next endpoint still alive.
    for (let attempt = 0; attempt < endpoints.length; attempt++) {
      const endpoint = endpoints[(i + attempt) % endpoints.length];
      if (failures.has(endpoint)) continue;
      try {
        const completions = await send(endpoint, group);
        if (completions.length !== group.n) {
          throw new Error(`${completions.length} completions for n = ${group.n}`);
        }
        servedBy[i] = endpoint;
        return completions;
      } catch (e) {
        if (!failures.has(endpoint)) failures.set(endpoint, message(e));
      }
    }
    throw new Error(
      `rollout: every inference endpoint failed for group ${i}:\n${
        endpoints.map((e) => `  ${e}: ${failures.get(e) ?? "not tried"}`).join("\n")
      }`,
    );
  };
  const completions = await Promise.all(groups.map(runGroup));
  return { completions, servedBy, failures };
};

/** POSTs JSON and returns the answer's text; a non-2xx status or a timeout is an error. */
export const postJson = async (url: string, body: unknown, timeoutMs: number): Promise<string> => {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`HTTP ${res.status} from ${url}: ${text.slice(0, 300)}`);
  return text;
};

/** postJson for endpoints that answer JSON. */
export const postForJson = async (
  url: string,
  body: unknown,
  timeoutMs: number,
): Promise<unknown> => {
  const text = await postJson(url, body, timeoutMs);
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${url} answered with invalid JSON: ${text.slice(0, 120)}`);
  }
};
