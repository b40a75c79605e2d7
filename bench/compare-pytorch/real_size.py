"""Eager PyTorch on CPU on a real-size Hugging Face Qwen2 directory (e.g. from
examples/synth-model.ts), doing exactly the work of ours, for real_size.sh's ratios:

  bench  what bench/real-size.ts measures: greedy KV-cache decoding of --new-tokens tokens after a
         32-token prompt at each batch size (LoRA off), then one GRPO + LoRA training step on
         --sequences rows of --prompt + --completion tokens (reference log-probs, policy forward
         with per-layer checkpointing and backward into LoRA on all seven projections, clipping,
         AdamW);
  probe  the issue's probe as examples/train.ts runs it: --rows completions of --completion
         tokens sampled (temperature 0.7, LoRA on) after --prompt prompt tokens, then the same
         training step on those rows (the forward sees prompt + completion - 1 tokens).

The frozen base is widened to float32 on load (--dtype float32, PyTorch's fastest CPU path; bfloat16
keeps it 16-bit). Each figure is one timed run, as ours. Threads: OMP_NUM_THREADS. Prints one JSON
line; peak RSS is the process's maximum so far (ru_maxrss).
"""

import argparse
import json
import os
import resource
import sys
import time

import torch

from qwen2 import decode, grpo_step, load_hf

LORA_RANK, LORA_ALPHA = 32, 64  # Tina's; the scaling does not change the work
BETA, EPSILON, MAX_GRAD_NORM = 0.04, 0.2, 1.0


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def train_step(model, ids, prompt, checkpointing, lr):
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    advantages = torch.randn(ids.shape[0])
    return timed(lambda: grpo_step(model, optimizer, ids, prompt, advantages, BETA, EPSILON,
                                   MAX_GRAD_NORM, checkpointing))[1]


def random_ids(rows, width, vocab):
    # ours draws ids below min(vocab, 1000) too (bench/real-size.ts)
    return torch.randint(0, min(vocab, 1000), (rows, width))


def bench(model, shape, a):
    decoded = {}
    for b in a.batches:
        prompts = random_ids(b, 32, shape.vocab)
        _, s = timed(lambda: decode(model, prompts, a.new_tokens))
        decoded[f"batch{b}"] = b * a.new_tokens / s
    tokens = a.sequences * (a.prompt + a.completion)
    # completion + 1 targets, so that the forward (which drops the last position) sees
    # prompt + completion tokens per row, as bench/real-size.ts packs them
    ids = random_ids(a.sequences, a.prompt + a.completion + 1, shape.vocab)
    seconds = train_step(model, ids, a.prompt, a.checkpointing, 1e-6)
    return {
        "decodeTokensPerSecond": decoded,
        "trainStep": {"sequences": a.sequences, "tokens": tokens, "seconds": seconds,
                      "tokensPerSecond": tokens / seconds,
                      "gradientCheckpointing": a.checkpointing},
    }


def probe(model, shape, a):
    prompts = random_ids(a.rows, a.prompt, shape.vocab)
    generator = torch.Generator().manual_seed(42)
    picks, generate_s = timed(
        lambda: decode(model, prompts, a.completion, lora=True, temperature=0.7, generator=generator))
    ids = torch.cat((prompts, torch.tensor(picks).t()), 1)
    train_s = train_step(model, ids, a.prompt, a.checkpointing, 1e-5)
    return {"rows": a.rows, "prompt": a.prompt, "completion": a.completion,
            "generateSeconds": generate_s, "trainSeconds": train_s,
            "stepSeconds": generate_s + train_s}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=("bench", "probe"))
    p.add_argument("--model", required=True)
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    p.add_argument("--batches", type=lambda s: [int(b) for b in s.split(",")], default=[1, 8])
    p.add_argument("--new-tokens", type=int, default=8)
    p.add_argument("--sequences", type=int, default=4)
    p.add_argument("--rows", type=int, default=4)
    p.add_argument("--prompt", type=int, default=160)
    p.add_argument("--completion", type=int, default=16)
    p.add_argument("--checkpointing", type=lambda s: s == "true", default=True)
    a = p.parse_args()
    torch.manual_seed(0)
    dtype = getattr(torch, a.dtype)
    (model, shape), load_s = timed(lambda: load_hf(a.model, LORA_RANK, LORA_ALPHA / LORA_RANK, dtype))
    result = (bench if a.mode == "bench" else probe)(model, shape, a)
    json.dump({"side": "pytorch", "mode": a.mode, "model": a.model, "torch": torch.__version__,
               "threads": torch.get_num_threads(), "dtype": a.dtype,
               "malloc": os.environ.get("TORCH_MALLOC", "default"), "loadSeconds": load_s,
               **result, "peakRssBytes": peak_rss_bytes()}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
