/** The tina and trl presets say what RECIPE.md and TRL 1.x say; bad loss configs are refused. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { tensor } from "../../lib/autodiff/tensor.ts";
import { tsBackend } from "../../lib/tensor/backends.ts";
import { checkLossConfig, grpoLoss, tinaPreset, trlPreset, withLoss } from "../../lib/rl/mod.ts";

test("tina: grpo aggregation, beta 0.04, eps 0.2, no temperature in log-probs", () => {
  assert.equal(
    [
      tinaPreset.loss.lossType,
      tinaPreset.loss.beta,
      tinaPreset.loss.epsilonLow,
      tinaPreset.loss.epsilonHigh,
    ],
    ["grpo", 0.04, 0.2, 0.2],
  );
  assert.is(tinaPreset.logprobsAtSamplingTemperature, false);
  assert.is(tinaPreset.scaleRewards, "group");
});

test("trl 1.x: dapo aggregation, beta 0, temperature divides the logits", () => {
  assert.equal([trlPreset.loss.lossType, trlPreset.loss.beta], ["dapo", 0]);
  assert.is(trlPreset.logprobsAtSamplingTemperature, true);
});

test("withLoss overrides and validates", () => {
  const dapo = withLoss(trlPreset, { epsilonHigh: 0.28 });
  assert.is(dapo.loss.epsilonHigh, 0.28);
  assert.is(trlPreset.loss.epsilonHigh, 0.2, "the preset itself is untouched");
  assert.throws(() => withLoss(tinaPreset, { delta: 0.5 }), /delta/);
  assert.throws(
    () => checkLossConfig({ ...tinaPreset.loss, maxCompletionLength: 0 }),
    /maxCompletionLength/,
  );
});

test("grpoLoss names the input at fault", () => {
  const t = (shape: number[]) =>
    tensor(tsBackend, new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
  const inputs = {
    logp: t([2, 3]),
    oldLogp: null,
    refLogp: null,
    advantages: t([2]),
    mask: t([2, 3]),
  };
  assert.throws(() => grpoLoss(inputs, tinaPreset.loss), /refLogp/);
  assert.throws(() => grpoLoss({ ...inputs, mask: t([2, 4]) }, trlPreset.loss), /mask is \[2, 4\]/);
  assert.throws(() => grpoLoss({ ...inputs, advantages: t([3]) }, trlPreset.loss), /advantages/);
});

test.run();
