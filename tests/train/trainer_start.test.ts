// train() with `start`: the fresh state it builds and hands to `start` is freed when `start`
// returns another (a LoRA-sized tree of weights plus the optimizer's moments, 0.45 GB at 1.5B).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { liveTensors, tensorsIn } from "../../lib/autodiff/tensor.ts";
import { loadModel } from "../../lib/model/load.ts";
import { arithmeticSplits } from "../../lib/data/mod.ts";
import { loadTokenizer } from "../../lib/tokenizer/mod.ts";
import { taskPrompt, tinyModelDir } from "../../mod.ts";
import { train } from "../../lib/train/trainer.ts";
import type { TrainState } from "../../lib/train/step.ts";

const dir = tinyModelDir();
const model = await loadModel(dir, { backend: "ts" });
const tokenizer = await loadTokenizer(dir);
const options = {
  model,
  tokenizer,
  data: arithmeticSplits(0, { train: 8, heldOut: 0 }).train,
  prompt: taskPrompt,
  config: {
    maxSteps: 1,
    promptsPerStep: 1,
    numGenerations: 2,
    gradientAccumulationSteps: 1,
    maxCompletionLength: 4,
  },
  now: () => 0,
};

test("train(): a state from `start` replaces the fresh one, which is freed", async () => {
  // A first run's final state stands in for a resumed checkpoint.
  const { state: saved } = await train(options);
  const held = (s: TrainState) => tensorsIn([s.trainable, s.optState]);
  const before = liveTensors();
  let fresh: TrainState | null = null;
  const { state } = await train({
    ...options,
    start: (f) => {
      fresh = f;
      return saved;
    },
  });
  const freed = [...held(fresh!)];
  assert.ok(freed.length > 0 && freed.every((t) => t.disposed), "the fresh state is freed");
  assert.ok([...held(saved)].some((t) => !t.disposed), "the started state is the one trained");
  // The step replaced the started state's tensors one for one; nothing else is left behind.
  assert.is(held(state).size, held(saved).size);
  assert.is(liveTensors() - before, 0);
});

test.run();
