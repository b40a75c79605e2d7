"""qwen2.py against the fixtures' independent goldens: load_hf on tests/fixtures/qwen2-tiny (untied
LM head; F32 and BF16 files) and qwen2-tiny-tied must give their base logits, so the real-size
comparison times a correct model. Exits non-zero, naming the case, when one differs."""

import shutil
import sys
import tempfile
from pathlib import Path

import torch

from qwen2 import load_hf, read_safetensors, to_tensor

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"
TOLERANCE = 1e-4


def golden(directory, name):
    dtype_name, shape, read = read_safetensors(directory / "golden.safetensors")[name]
    if dtype_name == "I64":
        return torch.from_numpy(read().view("<i8")).reshape(shape)
    return to_tensor(dtype_name, shape, read(), torch.float32, f"{directory}: {name}")


def worst_error(directory, weights_file, logits_name):
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("config.json", weights_file):
            shutil.copy(directory / name, Path(tmp) / ("model.safetensors" if name == weights_file else name))
        model, _ = load_hf(tmp, rank=4, scaling=1.0)
    with torch.no_grad():
        hidden, _ = model.hidden(golden(directory, "input_ids"), lora=False)
        return (model.head(hidden) - golden(directory, logits_name)).abs().max().item()


def main():
    cases = [("qwen2-tiny", "model.safetensors", "logits_base"),
             ("qwen2-tiny", "model_bf16.safetensors", "logits_base_bf16_weights"),
             ("qwen2-tiny-tied", "model.safetensors", "logits_base")]
    failed = False
    for fixture, weights, logits in cases:
        error = worst_error(FIXTURES / fixture, weights, logits)
        ok = error <= TOLERANCE
        failed |= not ok
        print(f"{'ok  ' if ok else 'FAIL'} {fixture}/{weights}: max |logits - {logits}| = {error:.2e}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
