"""The PyTorch side of bench/compare-pytorch: a plain-torch Qwen2 decoder with LoRA on all seven
projections, the GRPO training step and KV-cache decoding, shared by train_step.py (the 0.99M
shape of bench/shape.json, random weights) and real_size.py (a Hugging Face directory).

Qwen2: GQA attention with RoPE and optional q/k/v biases, RMSNorm, SwiGLU MLP, tied or untied LM
head. Like ours (lib/train/completion_logprobs.ts, and TRL's logits_to_keep), the training step
applies the LM head to the completion positions only.
"""

import json
import math
import statistics
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

@dataclass(frozen=True)
class Shape:
    vocab: int
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    eps: float
    rope_theta: float
    tied: bool
    attention_bias: bool

    @staticmethod
    def of_bench(m):
        """From the "model" object of bench/shape.json (camelCase)."""
        return Shape(m["vocabSize"], m["hiddenSize"], m["intermediateSize"], m["numHiddenLayers"],
                     m["numAttentionHeads"], m["numKeyValueHeads"], m["headDim"], m["rmsNormEps"],
                     m["ropeTheta"], m["tieWordEmbeddings"], m["attentionBias"])

    @staticmethod
    def of_hf(c):
        """From a Hugging Face Qwen2 config.json (q/k/v biases are Qwen2's fixed choice)."""
        if c.get("model_type") != "qwen2":
            raise SystemExit(f"config.json: model_type {c.get('model_type')!r}, expected 'qwen2'")
        heads = c["num_attention_heads"]
        return Shape(c["vocab_size"], c["hidden_size"], c["intermediate_size"],
                     c["num_hidden_layers"], heads, c["num_key_value_heads"],
                     c.get("head_dim", c["hidden_size"] // heads), c["rms_norm_eps"],
                     c["rope_theta"], c.get("tie_word_embeddings", False), True)


class LoraLinear(nn.Module):
    """A frozen linear layer (weight [out, in]) plus scaling * B A, B zero-initialized (PEFT)."""

    def __init__(self, inp, out, bias, rank, scaling, frozen):
        super().__init__()
        self.weight = frozen(out, inp)
        self.bias = frozen(out) if bias else None
        bound = 1 / math.sqrt(inp)
        self.lora_A = nn.Parameter(torch.empty(rank, inp).uniform_(-bound, bound))
        self.lora_B = nn.Parameter(torch.zeros(out, rank))
        self.scaling = scaling

    def forward(self, x, lora):
        y = F.linear(x.to(self.weight.dtype), self.weight, self.bias).float()
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
    def __init__(self, s, rank, scaling, frozen):
        super().__init__()
        h, f, d = s.hidden, s.intermediate, s.head_dim
        self.heads, self.kv_heads, self.head_dim = s.heads, s.kv_heads, d
        features = {
            "q": (h, s.heads * d, s.attention_bias),
            "k": (h, s.kv_heads * d, s.attention_bias),
            "v": (h, s.kv_heads * d, s.attention_bias),
            "o": (s.heads * d, h, False),
            "gate": (h, f, False),
            "up": (h, f, False),
            "down": (f, h, False),
        }
        self.proj = nn.ModuleDict(
            {p: LoraLinear(i, o, b, rank, scaling, frozen) for p, (i, o, b) in features.items()}
        )
        self.input_norm = RMSNorm(h, s.eps)
        self.post_norm = RMSNorm(h, s.eps)

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


def frozen_weights(dtype, random):
    """Makes frozen base tensors of `dtype`: random (std 0.02, biases too), or left unset for a
    loader to fill (torch.empty: no memory touched until then)."""

    def make(*size):
        values = torch.randn(*size, dtype=dtype) * 0.02 if random else torch.empty(*size, dtype=dtype)
        return nn.Parameter(values, requires_grad=False)

    return make


class Qwen2(nn.Module):
    """The frozen base of `dtype` (random or for load_hf to fill); LoRA and norms in float32."""

    def __init__(self, s, rank, scaling, dtype=torch.float32, random=True):
        super().__init__()
        frozen = frozen_weights(dtype, random)
        self.embed = frozen(s.vocab, s.hidden)
        self.layers = nn.ModuleList(Layer(s, rank, scaling, frozen) for _ in range(s.layers))
        self.norm = RMSNorm(s.hidden, s.eps)
        self.lm_head = None if s.tied else frozen(s.vocab, s.hidden)
        d = s.head_dim
        self.inv_freq = 1.0 / (s.rope_theta ** (torch.arange(0, d, 2).float() / d))

    def hidden(self, ids, lora=True, cache=None, checkpointing=False):
        """Final hidden states [B, T, H] and the new KV cache (per-layer checkpoints on request)."""
        b, t = ids.shape
        past = 0 if cache is None else cache[0][0].shape[2]
        pos = torch.arange(past, past + t).float()
        freqs = torch.outer(pos, self.inv_freq)
        emb = torch.cat((freqs, freqs), -1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        mask = torch.full((t, past + t), float("-inf")).triu(past + 1)
        x = F.embedding(ids, self.embed).float()
        new_cache = []
        for i, layer in enumerate(self.layers):
            past_kv = None if cache is None else cache[i]
            if checkpointing:
                x, kv = checkpoint(layer, x, cos, sin, mask, past_kv, lora, use_reentrant=False)
            else:
                x, kv = layer(x, cos, sin, mask, past_kv, lora)
            new_cache.append(kv)
        return self.norm(x), new_cache

    def head(self, hidden):
        weight = self.embed if self.lm_head is None else self.lm_head
        return F.linear(hidden.to(weight.dtype), weight).float()


def hf_names(i=None):
    """Our parameter names -> Hugging Face tensor names (one layer's when i is given)."""
    if i is None:
        return {"embed": "model.embed_tokens.weight", "norm.weight": "model.norm.weight",
                "lm_head": "lm_head.weight"}
    attn = {p: f"model.layers.{i}.self_attn.{p}_proj" for p in ("q", "k", "v", "o")}
    mlp = {p: f"model.layers.{i}.mlp.{p}_proj" for p in ("gate", "up", "down")}
    names = {f"proj.{p}.{w}": f"{prefix}.{w}" for p, prefix in {**attn, **mlp}.items()
             for w in ("weight", "bias")}
    return {**names, "input_norm.weight": f"model.layers.{i}.input_layernorm.weight",
            "post_norm.weight": f"model.layers.{i}.post_attention_layernorm.weight"}


def read_safetensors(path):
    """name -> (dtype name, shape, read()) of one .safetensors file; read() returns the tensor's
    bytes, read from the file only then (no mapping: its pages would count in the peak RSS)."""
    with open(path, "rb") as f:
        header_bytes = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(header_bytes))

    def reader(start, end):
        return lambda: np.fromfile(path, dtype=np.uint8, count=end - start, offset=8 + header_bytes + start)

    return {name: (t["dtype"], t["shape"], reader(*t["data_offsets"]))
            for name, t in header.items() if name != "__metadata__"}


def to_tensor(dtype_name, shape, raw, dtype, where):
    """One stored tensor as `dtype`: BF16 is widened exactly (its bits are float32's top half)."""
    if dtype_name == "BF16" and dtype == torch.bfloat16:
        values = torch.from_numpy(raw.view(np.int16)).view(torch.bfloat16)
    elif dtype_name == "BF16":
        wide = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        values = torch.from_numpy(wide).to(dtype)
    elif dtype_name in ("F16", "F32"):
        values = torch.from_numpy(raw.view(np.float16 if dtype_name == "F16" else np.float32))
        values = values.to(dtype)
    else:
        raise SystemExit(f"{where}: dtype {dtype_name} is not BF16, F16 or F32")
    return values.reshape(shape)


def load_hf(directory, rank, scaling, dtype=torch.float32):
    """A Hugging Face Qwen2 directory (config.json + model.safetensors, or its shards) as Qwen2,
    the frozen base converted to `dtype` one tensor at a time (norms stay float32)."""
    directory = Path(directory)
    shape = Shape.of_hf(json.loads((directory / "config.json").read_text()))
    index = directory / "model.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.exists() \
        else ["model.safetensors"]
    stored = {name: (file, *t) for file in files
              for name, t in read_safetensors(directory / file).items()}
    model = Qwen2(shape, rank, scaling, dtype, random=False)
    wanted = dict(hf_names())
    wanted.update({f"layers.{i}.{ours}": theirs for i in range(shape.layers)
                   for ours, theirs in hf_names(i).items()})
    params = dict(model.named_parameters())
    for ours, theirs in wanted.items():
        if ours not in params:
            continue  # lm_head of a tied model, biases the shape has none of
        if theirs not in stored:
            raise SystemExit(f"{directory}: tensor {theirs} is missing")
        file, dtype_name, t_shape, read = stored.pop(theirs)
        target = params[ours]
        if list(target.shape) != list(t_shape):
            raise SystemExit(f"{directory / file}: {theirs} has shape {t_shape}, expected {list(target.shape)}")
        target.data = to_tensor(dtype_name, t_shape, read(), target.dtype, f"{directory / file}: {theirs}")
    if stored:
        raise SystemExit(f"{directory}: tensors left over: {sorted(stored)[:5]}")
    return model, shape


def completion_logps(model, ids, prompt, lora, checkpointing):
    """log p of each target ids[:, prompt:] and the log-softmax rows, [B, C] and [B, C, V]."""
    hidden, _ = model.hidden(ids[:, :-1], lora=lora, checkpointing=checkpointing)
    logps = model.head(hidden[:, prompt - 1:]).log_softmax(-1)
    targets = ids[:, prompt:]
    return logps.gather(-1, targets.unsqueeze(-1)).squeeze(-1), logps


def grpo_step(model, optimizer, ids, prompt, advantages, beta, eps, max_norm, checkpointing=False):
    """Reference log-probs (LoRA off, no grad), the policy forward with LoRA, Tina's per-sequence
    mean GRPO loss with k3 KL, backward, grad-norm clipping, AdamW."""
    with torch.no_grad():
        ref, _ = completion_logps(model, ids, prompt, False, False)
    logp, logps = completion_logps(model, ids, prompt, True, checkpointing)
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
def decode(model, prompts, new_tokens, lora=False, temperature=0.0, generator=None):
    """new_tokens tokens per row with the KV cache: greedy, or sampled at `temperature` (top-p 1)
    with the log-prob of each pick; every pick goes to the host, as a sampler's does."""
    ids, cache, out = prompts, None, []
    for _ in range(new_tokens):
        hidden, cache = model.hidden(ids, lora=lora, cache=cache)
        logits = model.head(hidden[:, -1])
        if temperature == 0:
            ids = logits.argmax(-1, keepdim=True)
        else:
            logps = (logits / temperature).log_softmax(-1)
            ids = torch.multinomial(logps.exp(), 1, generator=generator)
            _picked = logps.gather(-1, ids)  # the rollout keeps each pick's log-prob, as ours
        out.append(ids.squeeze(1).tolist())
    return out


def median_seconds(fn, budget_s):
    """One warm-up call, then calls until the budget is spent (at least one); the median."""
    fn()
    times = []
    while not times or sum(times) < budget_s:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(times)
