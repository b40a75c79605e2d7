#!/usr/bin/env bash
# The GRPO training step of bench/shape.json (the 0.99M shape), ours and eager PyTorch taking
# turns for ROUNDS rounds, so that a shared machine's load falls on both sides alike; prints each
# round's tokens/s and the median of every side's ratio to each PyTorch run in the same round.
#
#   bash bench/compare-pytorch/alternate.sh
#
# Environment:
#   ROUNDS         default 4
#   SIDES          ours, as RUNTIME:THREADS (TINA_THREADS), default "deno:1 deno:2 bun:1"
#   TORCH_THREADS  PyTorch's OMP_NUM_THREADS, default 1 (its best on this 2-core machine)
#   TORCH_MALLOCS  glibc's malloc settings PyTorch runs under, default "default keep" (glibc's own,
#                  and freed memory kept in the heap: see torch_env.sh)
#   BACKEND        ours, default native
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-4}
SIDES=${SIDES:-deno:1 deno:2 bun:1}
TORCH_THREADS=${TORCH_THREADS:-1}
TORCH_MALLOCS=${TORCH_MALLOCS:-default keep}
BACKEND=${BACKEND:-native}
source bench/compare-pytorch/torch_env.sh
# As in run.sh: the calling shell's OpenBLAS tuning variables steer neither side.
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS OMP_NUM_THREADS
log=$(mktemp)
trap 'rm -f "$log"' EXIT

require_torch
"$PY" bench/compare-pytorch/check_qwen2.py >/dev/null ||
  { echo "qwen2.py disagrees with the fixtures' goldens: no comparison" >&2 && exit 1; }

ours_figure() { # runtime: the train-step row bench/run.ts just merged into latest.json
  "$PY" -c '
import json, sys
rows = [r for r in json.load(open("bench/results/latest.json"))
        if r["suite"] == "train-step" and r["backend"] == sys.argv[1] and r["runtime"] == sys.argv[2]]
print(rows[0]["figure"])' "$BACKEND" "$1"
}

for round in $(seq "$ROUNDS"); do
  for malloc in $TORCH_MALLOCS; do
    torch_malloc "$malloc"
    torch=$(env "${torch_malloc_env[@]}" OMP_NUM_THREADS="$TORCH_THREADS" "$PY" bench/compare-pytorch/train_step.py |
      "$PY" -c 'import json, sys; print(json.load(sys.stdin)["train_step"]["tokens_per_s"])')
    echo "$round torch:$malloc $torch" | tee -a "$log"
  done
  for side in $SIDES; do
    runtime=${side%%:*}
    case "$runtime" in
      bun) ours=(./node_modules/.bin/bun) ;;
      deno) ours=(./node_modules/.bin/deno run -A) ;;
      node) ours=(npx tsx) ;;
      *) echo "SIDES: runtime must be bun, deno or node, got $runtime" >&2 && exit 2 ;;
    esac
    TINA_THREADS=${side##*:} "${ours[@]}" bench/run.ts --suite train-step --backend "$BACKEND" >/dev/null
    echo "$round $side $(ours_figure "$runtime")" | tee -a "$log"
  done
done

"$PY" - "$log" "$TORCH_THREADS" <<'EOF'
import statistics, sys
from collections import defaultdict

rounds = defaultdict(dict)
for line in open(sys.argv[1]):
    round_, side, figure = line.split()
    rounds[round_][side] = float(figure)
torch_runs = sorted({s for r in rounds.values() for s in r if s.startswith("torch:")})
print(f"\nratio = ours / PyTorch ({sys.argv[2]} thread(s), glibc malloc settings) train-step tokens/s, same round")
for side in [s for s in next(iter(rounds.values())) if not s.startswith("torch:")]:
    for torch in torch_runs:
        rs = [r[side] / r[torch] for r in rounds.values() if side in r and torch in r]
        spread = ", ".join(f"{x:.2f}" for x in rs)
        print(f"{side:<8} vs {torch:<14} median {statistics.median(rs):.2f}x  ({spread})")
EOF
