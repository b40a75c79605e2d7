"""Eager PyTorch on CPU running the workload of bench/shape.json, for comparison with ours.

The Qwen2 of qwen2.py (random weights) with LoRA on all seven projections, timed on:
  - the GRPO training step: reference log-probs with LoRA off (no grad), policy forward with
    LoRA, per-sequence-mean GRPO loss with k3 KL, backward, grad-norm clipping, AdamW;
  - greedy decoding with a KV cache at each batch size of shape.json;
  - the plain forward.
Prints one JSON object on one line (tokens/s figures). Threads: torch's default, i.e. OMP_NUM_THREADS.
"""

import json
import sys
from pathlib import Path

import torch

from qwen2 import Qwen2, Shape, decode, grpo_step, median_seconds

SHAPE = json.loads((Path(__file__).resolve().parent.parent / "shape.json").read_text())


def main():
    torch.manual_seed(2504)
    lora, grpo, dec = SHAPE["lora"], SHAPE["grpo"], SHAPE["decode"]
    shape = Shape.of_bench(SHAPE["model"])
    model = Qwen2(shape, lora["rank"], lora["alpha"] / lora["rank"])
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=grpo["learningRate"], weight_decay=0.0)
    batch, seq, prompt = SHAPE["batch"], SHAPE["sequence"], SHAPE["promptLength"]
    ids = torch.randint(0, shape.vocab, (batch, seq + 1))
    advantages = torch.randn(batch)

    train_s, train_runs = median_seconds(
        lambda: grpo_step(
            model, optimizer, ids, prompt, advantages, grpo["beta"], grpo["epsilon"], grpo["maxGradNorm"]
        ),
        5.0,
    )
    with torch.inference_mode():
        forward_s, forward_runs = median_seconds(
            lambda: model.head(model.hidden(ids[:, :seq], lora=False)[0]), 2.0
        )
    decoded = {}
    for b in dec["batches"]:
        prompts = torch.randint(0, shape.vocab, (b, dec["promptLength"]))
        s, runs = median_seconds(lambda: decode(model, prompts, dec["newTokens"]), 2.0)
        decoded[str(b)] = {"tokens_per_s": b * dec["newTokens"] / s, "runs": runs}

    json.dump(
        {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "train_step": {"tokens_per_s": batch * seq / train_s, "runs": train_runs},
            "forward": {"tokens_per_s": batch * seq / forward_s, "runs": forward_runs},
            "decode": decoded,
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
