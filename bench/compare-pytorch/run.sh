#!/usr/bin/env bash
# Our GRPO training step and KV-cache decoding against eager PyTorch on CPU, on the workload of
# bench/shape.json, one after the other; prints ours/PyTorch ratios (above 1: we are faster).
#
#   bash bench/compare-pytorch/run.sh        (as root when python3-torch still has to be installed)
#
# Environment: BACKEND (default native, the main job's CPU backend; tfjs-wasm on node, which has
# no FFI) and RUNTIME (deno, the main job's runtime and the default; bun or node) choose our side,
# which runs on every core unless TINA_THREADS says otherwise; TORCH_THREADS (default "2 1")
# lists the OMP_NUM_THREADS values PyTorch runs with. Results: bench/results/pytorch.json and
# bench/results/latest.json.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNTIME=${RUNTIME:-deno}
BACKEND=${BACKEND:-$([ "$RUNTIME" = node ] && echo tfjs-wasm || echo native)}
TORCH_THREADS=${TORCH_THREADS:-2 1}
PY=/usr/bin/python3 # Debian's python3-torch installs for the system interpreter only
TORCH_RESULTS=bench/results/pytorch.json

if ! "$PY" -c "import torch" 2>/dev/null || ! dpkg -s libopenblas0-pthread >/dev/null 2>&1; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch libopenblas0-pthread
fi

"$PY" bench/compare-pytorch/check_qwen2.py >/dev/null ||
  { echo "qwen2.py disagrees with the fixtures' goldens: no comparison" >&2 && exit 1; }

# OpenBLAS tuning variables of the calling shell must steer neither side's BLAS: both sides get
# the kernels OpenBLAS picks for this CPU (a shell here had OPENBLAS_CORETYPE=Haswell, whose AVX2
# kernels run sgemm at half the AVX-512 ones' speed; it used to be unset for PyTorch only).
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE

echo "PyTorch (OMP_NUM_THREADS in: $TORCH_THREADS)…"
runs=()
for threads in $TORCH_THREADS; do
  runs+=("$(OMP_NUM_THREADS="$threads" "$PY" bench/compare-pytorch/train_step.py)")
done
printf '%s\n' "${runs[@]}" | "$PY" -c '
import json, sys
json.dump([json.loads(line) for line in sys.stdin if line.strip()], sys.stdout, indent=2)
print()' >"$TORCH_RESULTS"

echo "ours ($BACKEND on $RUNTIME)…"
case "$RUNTIME" in
  bun) ours=(npx bun) ;;
  deno) ours=(npx deno run -A) ;;
  node) ours=(npx tsx) ;;
  *) echo "RUNTIME must be bun, deno or node, got $RUNTIME" >&2 && exit 2 ;;
esac
"${ours[@]}" bench/run.ts --suite train-step,decode --backend "$BACKEND"

"$PY" - "$TORCH_RESULTS" bench/results/latest.json "$BACKEND" "$RUNTIME" <<'EOF'
import json, sys

torch_path, ours_path, backend, runtime = sys.argv[1:]
torch_runs = json.load(open(torch_path))
rows = [r for r in json.load(open(ours_path)) if r["backend"] == backend and r["runtime"] == runtime]


def ours(suite, *parts):
    found = [r for r in rows if r["suite"] == suite and r["unit"] == "tokens/s" and all(p in r["shape"] for p in parts)]
    if len(found) != 1:
        sys.exit(f"{ours_path}: expected one {suite} row with {parts} for {backend}/{runtime}, found {len(found)}")
    return found[0]["figure"]


print(f"\nours = {backend} on {runtime}; ratio = ours / PyTorch tokens/s (above 1: ours is faster)")
print(f"{'workload':<28}{'ours':>10}  " + "  ".join(f"{'torch ' + str(r['threads']) + 'T':>10}{'ratio':>7}" for r in torch_runs))
workloads = [("GRPO train step", ours("train-step"), lambda r: r["train_step"]["tokens_per_s"])] + [
    (f"KV-cache decode, batch {b}", ours("decode", f"batch {b},", "KV cache"), lambda r, b=b: r["decode"][b]["tokens_per_s"])
    for b in torch_runs[0]["decode"]
]
for name, mine, theirs in workloads:
    cells = "  ".join(f"{theirs(r):>10.1f}{mine / theirs(r):>6.2f}x" for r in torch_runs)
    print(f"{name:<28}{mine:>10.1f}  {cells}")
EOF
