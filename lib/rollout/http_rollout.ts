/**
 * A `Rollout` on inference servers: each call publishes the current adapter to the engines
 * (lib/rollout/adapters.ts), samples every prompt's group on one endpoint with a seed drawn from
 * the step's key (lib/rollout/groups.ts spreads groups and moves them off failed servers), then
 * retires the adapter. The engine's per-token log-probs come back beside the tokens, for the
 * learner's off-policy correction (lib/rl/importance.ts).
 */
import { adapterToHost } from "../model/adapter.ts";
import type { LoraConfig } from "../io/peft.ts";
import { foldIn, randomBits } from "../random/prng.ts";
import type { Rollout, RolloutResult } from "../train/rollout.ts";
import type { AdapterChannel } from "./adapters.ts";
import { postForJson, sampleGroups } from "./groups.ts";
import { type EngineSampling, type GroupRequest, type Protocol, seedOf } from "./protocol.ts";

export interface HttpRolloutOptions {
  readonly protocol: Protocol;
  readonly channel: AdapterChannel;
  readonly sampling: EngineSampling;
  /** The trained adapter's PEFT config (rank, alpha, targets), for writing it each step. */
  readonly lora: LoraConfig | null;
  /** Per-request timeout. */
  readonly timeoutMs: number;
  readonly log?: (line: string) => void;
}

/** What the last call did, for logs and tests. */
export interface RolloutStats {
  readonly version: number;
  readonly adapter: string | null;
  readonly servedBy: readonly string[];
  readonly failures: ReadonlyMap<string, string>;
}

export interface HttpRollout {
  readonly rollout: Rollout;
  readonly lastStats: () => RolloutStats | null;
  readonly close: () => Promise<void>;
}

/** The seed of group `i`: engines derive each sample's seed from it (seed + index). */
export const groupSeed = (key: readonly [number, number], i: number): number =>
  seedOf(randomBits(foldIn(key, i), 1)[0]);

export const httpRollout = (o: HttpRolloutOptions): HttpRollout => {
  let version = 0;
  let stats: RolloutStats | null = null;
  const rollout: Rollout = async ({ prompts, numGenerations, policy, key }) => {
    version += 1;
    if (policy.adapter && !o.lora) {
      throw new Error(
        "rollout: the policy has an adapter but no LoRA config was given to the rollout",
      );
    }
    const host = policy.adapter && o.lora
      ? await adapterToHost(o.lora, policy.adapter.weights)
      : null;
    const published = await o.channel.publish(version, host);
    try {
      const groups: GroupRequest[] = prompts.map((prompt, i) => ({
        prompt,
        n: numGenerations,
        seed: groupSeed(key, i),
        adapter: published.name,
        sampling: o.sampling,
      }));
      const outcome = await sampleGroups(groups, published.endpoints, async (endpoint, group) => {
        const { path, body } = o.protocol.request(group);
        return o.protocol.parse(await postForJson(`${endpoint}${path}`, body, o.timeoutMs), group);
      });
      outcome.failures.forEach((why, endpoint) => o.log?.(`rollout: dropped ${endpoint}: ${why}`));
      stats = {
        version,
        adapter: published.name,
        servedBy: outcome.servedBy,
        failures: outcome.failures,
      };
      const flat = outcome.completions.flat();
      const result: RolloutResult = {
        tokens: flat.map((c) => c.tokens),
        logprobs: flat.map((c) => c.logprobs),
        finishReasons: flat.map((c) => c.finishReason),
        engine: o.protocol.engine,
      };
      return result;
    } finally {
      await o.channel.retire(published);
    }
  };
  return { rollout, lastStats: () => stats, close: () => o.channel.close() };
};

/** The engine sampling settings a training config implies (every field stated explicitly). */
export const engineSamplingOf = (
  cfg: {
    readonly temperature: number;
    readonly topP: number;
    readonly topK: number | null;
    readonly maxCompletionLength: number;
    readonly temperatureInLogprobs: boolean;
  },
  stopTokens: readonly number[],
): EngineSampling => ({
  temperature: cfg.temperature,
  topP: cfg.topP,
  topK: cfg.topK,
  minP: 0,
  maxTokens: cfg.maxCompletionLength,
  stopTokens,
  logprobsAfterTemperature: cfg.temperatureInLogprobs,
});
