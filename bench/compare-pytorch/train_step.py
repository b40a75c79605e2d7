"""Eager PyTorch on CPU running the workload of bench/shape.json, for comparison with ours.

A minimal hand-written Qwen2 (GQA attention with RoPE and q/k/v biases, RMSNorm, SwiGLU MLP,
tied LM head) with LoRA on all seven projections, timed on:
  - the GRPO training step: reference log-probs with LoRA off (no grad), policy forward with
    LoRA, per-sequence-mean GRPO loss with k3 KL, backward, grad-norm clipping, AdamW;
  - greedy decoding with a KV cache at each batch size of shape.json;
  - the plain forward.
Prints one JSON object on one line (tokens/s figures). Threads: torch's default, i.e. OMP_NUM_THREADS.
"""

import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

SHAPE = json.loads((Path(__file__).resolve().parent.parent / "shape.json").read_text())
M = SHAPE["model"]
PROJS = ("q", "k", "v", "o", "gate", "up", "down")


class LoraLinear(nn.Module):
    """A frozen linear layer (weight [out, in]) plus scaling * B A, B zero-initialized (PEFT)."""

    def __init__(self, inp, out, bias, rank, scaling):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out, inp) * 0.02, requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(out), requires_grad=False) if bias else None
        bound = 1 / math.sqrt(inp)
        self.lora_A = nn.Parameter(torch.empty(rank, inp).uniform_(-bound, bound))
        self.lora_B = nn.Parameter(torch.zeros(out, rank))
        self.scaling = scaling

    def forward(self, x, lora):
        y = F.linear(x, self.weight, self.bias)
        return y + (x @ self.lora_A.t()) @ self.lora_B.t() * self.scaling if lora else y


class RMSNorm(nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size), requires_grad=False)
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Layer(nn.Module):
    def __init__(self, rank, scaling):
        super().__init__()
        h, f, d = M["hiddenSize"], M["intermediateSize"], M["headDim"]
        self.heads, self.kv_heads, self.head_dim = M["numAttentionHeads"], M["numKeyValueHeads"], d
        bias = M["attentionBias"]
        features = {
            "q": (h, self.heads * d, bias),
            "k": (h, self.kv_heads * d, bias),
            "v": (h, self.kv_heads * d, bias),
            "o": (self.heads * d, h, False),
            "gate": (h, f, False),
            "up": (h, f, False),
            "down": (f, h, False),
        }
        self.proj = nn.ModuleDict(
            {p: LoraLinear(i, o, b, rank, scaling) for p, (i, o, b) in features.items()}
        )
        self.input_norm = RMSNorm(h, M["rmsNormEps"])
        self.post_norm = RMSNorm(h, M["rmsNormEps"])

    def split(self, x, heads):
        b, t, _ = x.shape
        return x.view(b, t, heads, self.head_dim).transpose(1, 2)

    def forward(self, x, cos, sin, mask, cache, lora):
        p = self.proj
        h = self.input_norm(x)
        q = self.split(p["q"](h, lora), self.heads)
        k = self.split(p["k"](h, lora), self.kv_heads)
        v = self.split(p["v"](h, lora), self.kv_heads)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        if cache is not None:
            k, v = torch.cat((cache[0], k), 2), torch.cat((cache[1], v), 2)
        group = self.heads // self.kv_heads
        kr, vr = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
        scores = q @ kr.transpose(-1, -2) / math.sqrt(self.head_dim) + mask
        attn = (scores.softmax(-1) @ vr).transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)
        x = x + p["o"](attn, lora)
        m = self.post_norm(x)
        x = x + p["down"](F.silu(p["gate"](m, lora)) * p["up"](m, lora), lora)
        return x, (k, v)


class Qwen2(nn.Module):
    def __init__(self, rank, scaling):
        super().__init__()
        h = M["hiddenSize"]
        self.embed = nn.Parameter(torch.randn(M["vocabSize"], h) * 0.02, requires_grad=False)
        self.layers = nn.ModuleList(Layer(rank, scaling) for _ in range(M["numHiddenLayers"]))
        self.norm = RMSNorm(h, M["rmsNormEps"])
        d = M["headDim"]
        self.inv_freq = 1.0 / (M["ropeTheta"] ** (torch.arange(0, d, 2).float() / d))

    def forward(self, ids, lora=True, cache=None):
        b, t = ids.shape
        past = 0 if cache is None else cache[0][0].shape[2]
        pos = torch.arange(past, past + t).float()
        freqs = torch.outer(pos, self.inv_freq)
        emb = torch.cat((freqs, freqs), -1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        mask = torch.full((t, past + t), float("-inf")).triu(past + 1)
        x = F.embedding(ids, self.embed)
        new_cache = []
        for i, layer in enumerate(self.layers):
            x, kv = layer(x, cos, sin, mask, None if cache is None else cache[i], lora)
            new_cache.append(kv)
        return self.norm(x) @ self.embed.t(), new_cache


def median_seconds(fn, budget_s):
    """One warm-up call, then calls until the budget is spent (at least one); the median."""
    fn()
    times = []
    while not times or sum(times) < budget_s:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(times)


def grpo_step(model, optimizer, ids, prompt, advantages, beta, eps, max_norm):
    inputs, targets = ids[:, :-1], ids[:, prompt:]

    def completion_logps(logits):
        logps = logits[:, prompt - 1 :].log_softmax(-1)
        return logps.gather(-1, targets.unsqueeze(-1)).squeeze(-1), logps

    with torch.no_grad():
        ref, _ = completion_logps(model(inputs, lora=False)[0])
    logp, logps = completion_logps(model(inputs, lora=True)[0])
    with torch.no_grad():
        _entropy = -(logps.exp() * logps).sum(-1)  # logged by the trainer, as TRL does
    ratio = torch.exp(logp - logp.detach())
    adv = advantages.unsqueeze(1)
    policy = -torch.min(ratio * adv, ratio.clamp(1 - eps, 1 + eps) * adv)
    kl = torch.exp(ref - logp) - (ref - logp) - 1
    mask = torch.ones_like(logp)
    per_token = (policy + beta * kl) * mask
    loss = (per_token.sum(-1) / mask.sum(-1).clamp(min=1)).mean()
    loss.backward()
    trainable = [p for p in model.parameters() if p.requires_grad]
    torch.nn.utils.clip_grad_norm_(trainable, max_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


@torch.inference_mode()
def greedy_decode(model, prompts, new_tokens):
    ids, cache, out = prompts, None, []
    for _ in range(new_tokens):
        logits, cache = model(ids, lora=False, cache=cache)
        ids = logits[:, -1:].argmax(-1)
        out.append(ids.squeeze(1).tolist())  # to the host each step, as a sampler does
    return out


def main():
    torch.manual_seed(2504)
    lora, grpo, dec = SHAPE["lora"], SHAPE["grpo"], SHAPE["decode"]
    model = Qwen2(lora["rank"], lora["alpha"] / lora["rank"])
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=grpo["learningRate"], weight_decay=0.0)
    batch, seq, prompt, vocab = SHAPE["batch"], SHAPE["sequence"], SHAPE["promptLength"], M["vocabSize"]
    ids = torch.randint(0, vocab, (batch, seq + 1))
    advantages = torch.randn(batch)

    train_s, train_runs = median_seconds(
        lambda: grpo_step(
            model, optimizer, ids, prompt, advantages, grpo["beta"], grpo["epsilon"], grpo["maxGradNorm"]
        ),
        5.0,
    )
    with torch.inference_mode():
        forward_s, forward_runs = median_seconds(lambda: model(ids[:, :seq], lora=False), 2.0)
    decode = {}
    for b in dec["batches"]:
        prompts = torch.randint(0, vocab, (b, dec["promptLength"]))
        s, runs = median_seconds(lambda: greedy_decode(model, prompts, dec["newTokens"]), 2.0)
        decode[str(b)] = {"tokens_per_s": b * dec["newTokens"] / s, "runs": runs}

    json.dump(
        {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "train_step": {"tokens_per_s": batch * seq / train_s, "runs": train_runs},
            "forward": {"tokens_per_s": batch * seq / forward_s, "runs": forward_runs},
            "decode": decode,
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
