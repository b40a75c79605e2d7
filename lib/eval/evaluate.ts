/**
 * Benchmark evaluation: sample n completions per problem, score each with the verifiable
 * accuracy reward, and summarize pass@1 (mean over the n samples), pass@k and maj@k. Pure
 * except for the model calls; the scoring half (`scoreCompletions`) needs no model at all.
 */
import { encodePrompt, taskPrompt } from "../data/prompt.ts";
import type { ChatMessage } from "../tokenizer/hf.ts";
import { checkLoraAdapter, checkModel } from "../model/guards.ts";
import type { LoraAdapter, Model } from "../model/load.ts";
import { loraScaling } from "../model/adapter.ts";
import { foldIn, type Key } from "../random/prng.ts";
import { accuracyReward, answersEqual, extractAnswer } from "../rewards/mod.ts";
import { generateFromParams } from "../sampling/generate.ts";
import type { Tokenizer } from "../tokenizer/hf.ts";
import { type AnswerEquality, summarize, type SummaryRow } from "./metrics.ts";

/** A benchmark row: the gold answer is `answer`, else the `\boxed{}` answer of `solution`. */
export type EvalExample = {
  readonly problem: string;
  readonly answer?: string;
  readonly solution?: string;
};

/** "paper": the Tina paper's zero-shot math prompt; "task": the built-in task's prompt. */
export type PromptStyle = "paper" | "task";

/** The instruction the paper puts before each question (one user message, no system prompt). */
export const PAPER_INSTRUCTION: string =
  "Solve the following math problem efficiently and clearly. " +
  "The last line of your response should be of the following format: " +
  "'Therefore, the final answer is: $\\boxed{ANSWER}$. I hope it is correct' (without quotes) " +
  "where ANSWER is just the final number or expression that solves the problem. " +
  "Think step by step before answering.";

/**
 * The paper's evaluation prompt: the instruction, a blank line, the problem, as one user message.
 */
export const paperPrompt = (example: { readonly problem: string }): readonly ChatMessage[] => [
  { role: "user", content: `${PAPER_INSTRUCTION}\n\n${example.problem}` },
];

/**
 * The chat messages posing a problem in the given style: the paper's prompt or the built-in task's.
 */
export const promptMessages = (
  example: { readonly problem: string },
  style: PromptStyle,
): readonly ChatMessage[] => style === "paper" ? paperPrompt(example) : taskPrompt(example);

/** One problem's completions, extracted answers and verdicts. */
export type ProblemResult = {
  readonly problem: string;
  readonly gold: string;
  readonly completions: readonly string[];
  /** The answer extracted from each completion (null: none found). */
  readonly answers: readonly (string | null)[];
  /** Whether each completion is correct; null when the gold answer cannot be scored. */
  readonly correct: readonly boolean[] | null;
};

/** Every problem's result and the pass@k / maj@k summary over them. */
export type Scores = {
  readonly perProblem: readonly ProblemResult[];
  /** Over the scorable problems only; null when none is scorable. */
  readonly summary: SummaryRow | null;
  /** Problems whose gold answer the checker cannot parse: reported, not counted as wrong. */
  readonly unscorable: number;
};

/**
 * The answer to compare against. A bare `solution` (no `answer`) is a worked solution whose
 * `\boxed{}` holds the answer; when nothing can be extracted the text is used as is.
 */
export const goldAnswerOf = (example: EvalExample, index: number): string => {
  if (example.answer !== undefined) return example.answer;
  if (example.solution !== undefined) return extractAnswer(example.solution) ?? example.solution;
  throw new Error(`evaluate: problem ${index} has neither an "answer" nor a "solution"`);
};

/** metrics' equality is (candidate, reference); the rewards' is (gold, predicted). */
const sameAnswer: AnswerEquality = (candidate, reference) => answersEqual(reference, candidate);

const scoreProblem = (
  example: EvalExample,
  index: number,
  completions: readonly string[],
): ProblemResult => {
  const gold = goldAnswerOf(example, index);
  const rewards = completions.map((c) => accuracyReward(c, gold));
  return {
    problem: example.problem,
    gold,
    completions,
    answers: completions.map(extractAnswer),
    correct: rewards.some((r) => r === null) ? null : rewards.map((r) => r === 1),
  };
};

/**
 * Scores `completionsPerProblem[i]` (n completions each) against `examples[i]`'s gold answer;
 * `k` (default n) is the k of pass@k and maj@k.
 */
export const scoreCompletions = (
  examples: readonly EvalExample[],
  completionsPerProblem: readonly (readonly string[])[],
  k?: number,
): Scores => {
  if (examples.length !== completionsPerProblem.length) {
    throw new Error(
      `scoreCompletions: ${examples.length} examples but ${completionsPerProblem.length} ` +
        `lists of completions`,
    );
  }
  const n = completionsPerProblem[0]?.length ?? 0;
  completionsPerProblem.forEach((c, i) => {
    if (c.length === 0 || c.length !== n) {
      throw new Error(
        `scoreCompletions: problem ${i} has ${c.length} completions, expected ${n} (as problem 0)` +
          ` and at least 1`,
      );
    }
  });
  if (k !== undefined && !(Number.isInteger(k) && k >= 1 && k <= n)) {
    throw new Error(`scoreCompletions: k must be an integer in [1, ${n}] (samples), got ${k}`);
  }
  const perProblem = examples.map((e, i) => scoreProblem(e, i, completionsPerProblem[i]));
  const scorable = perProblem.flatMap((p) =>
    p.correct === null ? [] : [{ correct: p.correct, answers: p.answers, gold: p.gold }]
  );
  return {
    perProblem,
    summary: scorable.length === 0 ? null : summarize(scorable, { k, equal: sameAnswer }),
    unscorable: perProblem.length - scorable.length,
  };
};

/** Sampling, batching and prompt settings of an evaluation. */
export type EvaluateOptions = {
  /** LoRA adapter applied while sampling, or none (the base model). */
  readonly adapter?: LoraAdapter | null;
  /** n: completions sampled per problem. */
  readonly samplesPerProblem: number;
  /** For pass@k and maj@k; default n. */
  readonly k?: number;
  /** Sampling temperature (the paper's evaluation: 0.6). */
  readonly temperature: number;
  /** Nucleus sampling mass (the paper's evaluation: 0.95). */
  readonly topP: number;
  /** Completion length limit in tokens. */
  readonly maxNewTokens: number;
  /** The paper's prompt or the built-in task's. */
  readonly promptStyle: PromptStyle;
  /** Overrides promptStyle: the messages a problem is posed in (a run's custom prompt). */
  readonly promptOf?: (example: EvalExample) => readonly ChatMessage[];
  /** Batch b samples with foldIn(key, b): results depend on the key and the batch size. */
  readonly key: Key;
  /** Problems per generate call; their n completions each are sampled together. */
  readonly batchSize: number;
  /** The clock (milliseconds) for `seconds`, injected so lib/ reads none; without it seconds is 0. */
  readonly now?: () => number;
  /** Called after each batch with the number of problems done so far. */
  readonly onProgress?: (done: number, total: number) => void;
};

/** Scores plus what the evaluation cost: tokens generated and seconds. */
export type EvalResult = Scores & {
  /** New tokens sampled over all problems. */
  readonly tokensGenerated: number;
  /** Wall time by the injected clock (0 without one). */
  readonly seconds: number;
};

const checkPositiveInt = (field: string, value: number): void => {
  if (!(Number.isInteger(value) && value >= 1)) {
    throw new Error(`evaluate: ${field} must be a positive integer, got ${value}`);
  }
};

/** Consecutive runs of `size` items (the last may be shorter). */
const chunks = <T>(items: readonly T[], size: number): T[][] =>
  Array.from(
    { length: Math.ceil(items.length / size) },
    (_, b) => items.slice(b * size, (b + 1) * size),
  );

/**
 * pass@1 (mean over n), pass@k and maj@k of a model (optionally with an adapter) on problems with
 * gold answers: samples n completions per problem, extracts and checks each answer.
 */
export const evaluate = async (
  model: Pick<Model, "config" | "params">,
  tokenizer: Tokenizer,
  examples: readonly EvalExample[],
  opts: EvaluateOptions,
): Promise<EvalResult> => {
  checkModel("evaluate", model);
  checkLoraAdapter("evaluate", opts.adapter, model);
  const n = opts.samplesPerProblem;
  checkPositiveInt("samplesPerProblem", n);
  checkPositiveInt("batchSize", opts.batchSize);
  checkPositiveInt("maxNewTokens", opts.maxNewTokens);
  if (opts.k !== undefined && !(Number.isInteger(opts.k) && opts.k >= 1 && opts.k <= n)) {
    throw new Error(
      `evaluate: k must be an integer in [1, ${n}] (samplesPerProblem), got ${opts.k}`,
    );
  }
  const now = opts.now ?? (() => 0);
  const started = now();
  const prompts = examples.map((e, i) =>
    encodePrompt(tokenizer, opts.promptOf?.(e) ?? promptMessages(e, opts.promptStyle), {
      vocabSize: model.config.vocabSize,
      where: `evaluate: problem ${i}`,
    })
  );
  const adapter = opts.adapter
    ? { weights: opts.adapter.weights, scaling: loraScaling(opts.adapter.config) }
    : null;
  const stopTokens = [...new Set([tokenizer.eosTokenId, ...model.config.eosTokenIds])];
  const completions: string[][] = [];
  let tokensGenerated = 0;
  for (const [b, batch] of chunks(prompts, opts.batchSize).entries()) {
    const generation = await generateFromParams(
      model.config,
      model.params,
      batch.flatMap((ids) => Array.from({ length: n }, () => ids)),
      {
        temperature: opts.temperature,
        topP: opts.topP,
        maxNewTokens: opts.maxNewTokens,
        stopTokens,
        padToken: tokenizer.padTokenId,
        key: foldIn(opts.key, b),
        adapter,
      },
    );
    tokensGenerated += generation.tokens.reduce((sum, t) => sum + t.length, 0);
    const texts = generation.tokens.map((ids) =>
      tokenizer.decode(ids, { skipSpecialTokens: true })
    );
    completions.push(...chunks(texts, n));
    opts.onProgress?.(completions.length, examples.length);
  }
  return {
    ...scoreCompletions(examples, completions, opts.k),
    tokensGenerated,
    seconds: (now() - started) / 1000,
  };
};
