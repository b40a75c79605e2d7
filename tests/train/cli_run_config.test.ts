/**
 * Run-config resolution (lib/train/run_config.ts): precedence, the alpha rule, every problem at
 * once with "did you mean", lengths against the model's context, resume rules, and open-r1 /
 * TRL recipe files translated key by key.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { isLeft, isRight } from "fp-ts/lib/Either.js";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { decodeModelConfig, type ModelConfig, readModelConfig } from "../../lib/io/hf_config.ts";
import { resolveLayers } from "../../lib/train/config.ts";
import {
  parameterCount,
  parseRewardsFlag,
  type ResolvedRun,
  resolveRun,
  type RunFlags,
  type RunRequest,
  type RunSettings,
} from "../../lib/train/run_config.ts";
import { parseRecipeText, readRecipeFile } from "../../lib/train/run_config_files.ts";
import { translateRecipe } from "../../lib/train/run_config_trl.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const tiny = await readModelConfig(join(root, "models/tiny-arith"));

/** DeepSeek-R1-Distill-Qwen-1.5B's shape (RECIPE.md), for recipes sized for it. */
const r1Distill: ModelConfig = (() => {
  const decoded = decodeModelConfig({
    architectures: ["Qwen2ForCausalLM"],
    model_type: "qwen2",
    vocab_size: 151936,
    hidden_size: 1536,
    intermediate_size: 8960,
    num_hidden_layers: 28,
    num_attention_heads: 12,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    tie_word_embeddings: false,
    max_position_embeddings: 131072,
    torch_dtype: "bfloat16",
    bos_token_id: 151646,
    eos_token_id: 151643,
  }, "r1-distill");
  if (isLeft(decoded)) throw new Error(decoded.left);
  return decoded.right;
})();

const facts = (config: ModelConfig) => ({ config, parameters: parameterCount(config) });

const request = (
  flags: Partial<RunFlags> = {},
  rest: Partial<RunRequest> = {},
): RunRequest => ({
  flags: { train: {}, ...flags },
  file: null,
  saved: null,
  defaultModel: "models/tiny-arith",
  ...rest,
});

const fileOf = (values: Record<string, unknown>, source = "cfg.json") => ({
  source,
  recipe: translateRecipe(values),
});

const ok = (r: ReturnType<typeof resolveRun>): ResolvedRun => {
  if (isLeft(r)) throw new Error(r.left.join("\n"));
  return r.right;
};

const problemsOf = (r: ReturnType<typeof resolveRun>): readonly string[] => {
  if (isRight(r)) throw new Error("expected problems, got a run");
  return r.left;
};

test("parameter count of the 1.5B shape is about 1.78B (untied head)", () => {
  const n = parameterCount(r1Distill);
  assert.ok(n > 1.7e9 && n < 1.85e9, String(n));
  assert.ok(parameterCount(tiny) < 1e6);
});

test("precedence: recipe < config file < flags, and the tiny model gets the demo recipe", () => {
  const base = ok(resolveRun(request(), facts(tiny)));
  assert.is(base.run.recipe, "demo");
  assert.is(base.run.train.learningRate, 2e-3);
  assert.is(base.run.prompt.style, "task");
  assert.ok(base.notes.some((n) => /recipe demo: chosen for a .*-parameter model/.test(n)));
  assert.ok(base.notes.some((n) => /prompt task/.test(n)));
  const file = fileOf({ learningRate: 0.01, maxSteps: 7 });
  const fromFile = ok(resolveRun(request({}, { file }), facts(tiny)));
  assert.is(fromFile.run.train.learningRate, 0.01);
  const flagged = ok(
    resolveRun(request({ train: { learningRate: 0.05 } }, { file }), facts(tiny)),
  );
  assert.is(flagged.run.train.learningRate, 0.05);
  assert.is(flagged.run.train.maxSteps, 7, "the file's other fields stay");
  // A bigger model defaults to the paper's recipe and prompt, whatever the data.
  const big = ok(resolveRun(request({ data: "x.jsonl" }), facts(r1Distill)));
  assert.is(big.run.recipe, "tina");
  assert.is(big.run.prompt.style, "paper");
  assert.is(big.run.train.learningRate, 1e-6);
  // --data alone does not change the tiny model's recipe (issue #15, point 1).
  assert.is(ok(resolveRun(request({ data: "x.jsonl" }), facts(tiny))).run.recipe, "demo");
});

test("lora.alpha: one rule for flags and files (r without alpha sets 4r)", () => {
  const alphaOf = (flags: Record<string, unknown>, file?: Record<string, unknown>) =>
    ok(resolveRun(request({ train: flags }, { file: file && fileOf(file) }), facts(tiny))).run
      .train.lora!.alpha;
  assert.is(alphaOf({ lora: { r: 4 } }), 16);
  assert.is(alphaOf({}, { lora: { r: 4 } }), 16);
  assert.is(alphaOf({ lora: { r: 4 } }, { lora: { alpha: 10 } }), 16, "the flag's r is newer");
  assert.is(alphaOf({ lora: { alpha: 10 } }, { lora: { r: 4 } }), 10);
  assert.is(alphaOf({}, { lora: { r: 4, alpha: 6 } }), 6);
  assert.is(alphaOf({}, { lora_r: 3 }), 12, "PEFT names follow the same rule");
});

test("every problem at once, with the field path and did-you-mean", () => {
  const file = fileOf({
    lora: { rank: 2 },
    learningRat: 1,
    rewards: [{ name: "acuracy" }, { name: "format", weight: 1, extra: true }],
  });
  const problems = problemsOf(resolveRun(request({}, { file }), facts(tiny)));
  const text = problems.join("\n");
  assert.match(text, /unknown field "lora\.rank" \(did you mean "r"\?\)/);
  assert.match(text, /unknown field "learningRat" \(did you mean "learningRate"\?\)/);
  assert.match(text, /unknown field "rewards\.1\.extra"/);
  assert.ok(problems.every((p) => p.startsWith("cfg.json: ")), text);
  const values = resolveLayers([{
    source: "c.json",
    values: {
      epsilonLow: 1.5,
      delta: 0.5,
      lora: { rank: 2 },
      rewards: [{ name: "acuracy" }, { name: "format" }, {
        name: "format",
      }],
    },
  }]);
  assert.ok(isLeft(values));
  const all = isLeft(values) ? values.left.join("\n") : "";
  assert.match(all, /epsilonLow": expected a number in \[0, 1\), got 1\.5/);
  assert.match(all, /delta": expected \(a number > 1 \| null\), got 0\.5/);
  assert.match(all, /lora\.rank/, "structural and value problems together");
  assert.match(all, /unknown reward "acuracy" \(did you mean "accuracy"\?\)/);
  assert.match(all, /"format" is listed twice/);
});

test("a bad nested value names its field, not the whole type", () => {
  const r = resolveLayers([{ source: "c.json", values: { lora: { targets: ["q_proj"] } } }]);
  assert.ok(isLeft(r));
  const text = isLeft(r) ? r.left.join("\n") : "";
  assert.match(text, /^c\.json: field "lora\.targets\.0": expected "q" \| "k" .*got "q_proj"$/);
  assert.not.match(text, /alpha/);
});

test("a config that is not a mapping is refused, not read as the preset", () => {
  for (const values of [null, [], 3, "x"]) {
    const r = resolveLayers([{ source: "c.json", values }]);
    assert.ok(isLeft(r) && /c\.json: expected an object of config fields/.test(r.left[0]));
  }
});

test("--rewards: weights default to 1; empty, extra and repeated parts refused", () => {
  const good = parseRewardsFlag("accuracy, format:0.5");
  assert.equal(isRight(good) && good.right, [{ name: "accuracy", weight: 1 }, {
    name: "format",
    weight: 0.5,
  }]);
  for (
    const [text, pattern] of [
      ["", /empty/],
      ["accuracy:", /weight of "accuracy" must be a number/],
      ["accuracy:1:2", /more than one weight/],
      ["accuracy,accuracy", /listed twice/],
      ["acuracy", /did you mean "accuracy"/],
    ] as const
  ) {
    const r = parseRewardsFlag(text);
    assert.ok(isLeft(r) && pattern.test(r.left.join("\n")), `${text}: ${JSON.stringify(r)}`);
  }
});

test("lengths: a recipe's default is clamped to the context, a length the user set is refused", () => {
  const clamped = ok(resolveRun(request({ recipe: "tina" }), facts(tiny)));
  const t = clamped.run.train;
  assert.ok(t.maxPromptLength + t.maxCompletionLength <= 256);
  assert.ok(clamped.notes.some((n) => /exceed the model's 256 positions.*clamped/.test(n)));
  const refused = problemsOf(
    resolveRun(request({ train: { maxCompletionLength: 300 } }), facts(tiny)),
  );
  assert.match(refused.join("\n"), /exceed the model's 256 positions/);
  const evalTooLong = problemsOf(resolveRun(request({ evalMaxNewTokens: 250 }), facts(tiny)));
  assert.match(evalTooLong[0], /eval-max-new-tokens 250/);
  assert.is(clamped.run.eval.maxNewTokens, t.maxCompletionLength, "eval follows training length");
  assert.is(clamped.run.eval.temperature, 0.6);
  assert.is(clamped.run.eval.topP, 0.95);
});

test("a LoRA rank beyond the model's width is refused before anything is allocated", () => {
  const r = problemsOf(resolveRun(request({ train: { lora: { r: 1_000_000_000 } } }), facts(tiny)));
  assert.match(r.join("\n"), /lora\.r/);
});

const savedRun = (): { source: string; run: RunSettings } => {
  const fresh = ok(resolveRun(
    request({
      data: "train.jsonl",
      evalData: "eval.jsonl",
      problemField: "question",
      train: { maxSteps: 300, lora: { r: 4 } },
      evalSamples: 2,
    }),
    facts(tiny),
  ));
  return { source: "runs/a/run.json", run: fresh.run };
};

test("resume: the saved run < repeated flags; data, prompt and eval settings kept", () => {
  const saved = savedRun();
  const resumed = ok(resolveRun(request({}, { saved }), facts(tiny))).run;
  assert.equal(resumed, saved.run, "nothing repeated: the same run");
  const extended = ok(resolveRun(request({ train: { maxSteps: 400 } }, { saved }), facts(tiny)));
  assert.ok(extended.notes.some((n) => /horizon moves from 300 to 400/.test(n)), "said");
  const longer = extended.run;
  assert.is(longer.train.maxSteps, 400);
  assert.is(longer.train.lora!.r, 4);
  assert.equal(longer.data, saved.run.data);
  assert.equal(longer.evalData, saved.run.evalData);
  assert.is(longer.eval.samples, 2);
  const reshaped = problemsOf(
    resolveRun(request({ train: { lora: { r: 2 } } }, { saved }), facts(tiny)),
  );
  assert.match(reshaped.join("\n"), /keeps its adapter's shape/);
  const recipe = problemsOf(resolveRun(request({ recipe: "tina" }, { saved }), facts(tiny)));
  assert.match(recipe.join("\n"), /keeps its recipe/);
});

test("Tina's open-r1 recipe: every key translated or listed as ignored", async () => {
  const file = await readRecipeFile(join(root, "tests/data/recipes/tina-open-rs.yaml"));
  const resolved = ok(resolveRun(request({}, { file }), facts(r1Distill)));
  const { run, notes } = resolved;
  assert.is(run.model, "models/DeepSeek-R1-Distill-Qwen-1.5B");
  assert.equal(run.data, {
    path: "data/open-rs/train.parquet",
    problemField: null,
    answerField: null,
  });
  assert.is(run.prompt.style, "custom");
  assert.ok(run.prompt.style === "custom" && run.prompt.system!.startsWith("A conversation"));
  const t = run.train;
  assert.is(t.learningRate, 1e-6);
  assert.is(t.numGenerations, 6);
  assert.is(t.maxPromptLength, 512);
  assert.is(t.maxCompletionLength, 3584);
  assert.is(t.maxSteps, 500);
  assert.is(t.promptsPerStep, 4, "6 completions × 4 accumulation / 6 generations");
  assert.is(t.gradientAccumulationSteps, 4);
  assert.is(t.minLrRatio, 0.1);
  assert.is(t.lrScheduler, "cosine_with_min_lr");
  assert.is(t.checkpointEvery, 50);
  assert.equal(t.lora, {
    r: 32,
    alpha: 128,
    dropout: 0.05,
    targets: ["q", "k", "v", "o", "down", "up", "gate"],
    rslora: false,
  });
  assert.equal(t.rewards, [{ name: "format", weight: 1 }, { name: "accuracy", weight: 2 }]);
  const ignored = notes.find((n) => n.includes("ignored"))!;
  for (
    const key of ["bf16", "use_vllm", "output_dir", "hub_model_id", "report_to", "torch_dtype"]
  ) {
    assert.ok(ignored.includes(key), `${key} listed: ${ignored}`);
  }
  assert.not.ok(ignored.includes("learning_rate"));
});

test("TRL names: a near-miss is a typo (did you mean), an unknown TRL key is ignored", () => {
  const typo = problemsOf(
    resolveRun(request({}, { file: fileOf({ learning_rat: 1e-5 }) }), facts(tiny)),
  );
  assert.match(typo.join("\n"), /learning_rat.*did you mean/);
  const trlOnly = ok(
    resolveRun(
      request({}, { file: fileOf({ eval_steps: 5, use_liger_kernel: true }) }),
      facts(tiny),
    ),
  );
  assert.ok(trlOnly.notes.some((n) => /ignored.*eval_steps, use_liger_kernel/.test(n)));
  const badModules = problemsOf(
    resolveRun(
      request({}, { file: fileOf({ lora_target_modules: ["q_proj", "lm_head"] }) }),
      facts(tiny),
    ),
  );
  assert.match(badModules.join("\n"), /lora_target_modules.*lm_head/);
  const weights = problemsOf(
    resolveRun(
      request({}, { file: fileOf({ reward_funcs: ["accuracy"], reward_weights: [1, 2] }) }),
      facts(tiny),
    ),
  );
  assert.match(weights.join("\n"), /reward_weights.*expected 1 numbers/);
});

test("YAML and JSON recipe files parse; a YAML error names the file", async () => {
  const text = await readFile(join(root, "tests/data/recipes/open-r1-tiny.yaml"), "utf8");
  const values = parseRecipeText(text, "r.yaml") as Record<string, unknown>;
  assert.is(values.learning_rate, 2e-3);
  assert.throws(() => parseRecipeText("a: [1, 2\nb: 3", "bad.yaml"), /bad\.yaml: /);
  assert.throws(() => parseRecipeText("a: 1\na: 2\n", "dup.yaml"), /dup\.yaml: /);
  assert.throws(() => parseRecipeText("{", "bad.json"), /bad\.json: invalid JSON/);
});

test.run();
