#!/usr/bin/env bash
# Ours beside eager PyTorch at a real model size (issue 12), same machine, same run: at each thread
# count, bench/real-size.ts and real_size.py bench (decode at batch 1 and 8, one GRPO + LoRA
# training step) back to back; then, given DATA, the issue's probe (examples/train.ts, one step)
# and real_size.py probe on the same rows and lengths, each under /usr/bin/time for wall and
# peak RSS. Prints ours/PyTorch ratios and writes bench/results/pytorch-real-size.json.
#
#   bash bench/compare-pytorch/real_size.sh DIR      (DIR: e.g. from examples/synth-model.ts)
#
# Environment:
#   BENCH          0 skips the bench (the probe alone)
#   BACKEND        ours in the bench (default native)
#   RUNTIME        deno (default), bun or node
#   THREADS        default "1 2": TINA_THREADS for ours, OMP_NUM_THREADS for PyTorch
#   BENCH_ARGS     extra flags for both bench sides, e.g. "--sequences 2"
#   DATA           a problems .jsonl: runs the probe
#   PROBE_CONFIG   default: the issue's config with gradientCheckpointing on
#   PROBE_BACKEND  default: the planner's choice
#   PROBE_THREADS  ours in the probe (default: every core)
#   TORCH_DTYPE    float32 (PyTorch's fastest CPU path; the default) or bfloat16
#   TORCH_MALLOC   glibc's malloc settings for PyTorch: default, keep or fixed (see torch_env.sh)
#   OUT            default bench/results/pytorch-real-size.json
set -euo pipefail
cd "$(dirname "$0")/../.."

MODEL=${1:?usage: real_size.sh MODEL_DIR (see the header)}
BENCH=${BENCH:-1}
BACKEND=${BACKEND:-native}
RUNTIME=${RUNTIME:-deno}
THREADS=${THREADS:-1 2}
BENCH_ARGS=${BENCH_ARGS:-}
TORCH_DTYPE=${TORCH_DTYPE:-float32}
OUT=${OUT:-bench/results/pytorch-real-size.json}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

case "$RUNTIME" in
  bun) ours=(./node_modules/.bin/bun) ;;
  deno) ours=(./node_modules/.bin/deno run -A) ;;
  node) ours=(npx tsx) ;;
  *) echo "RUNTIME must be bun, deno or node, got $RUNTIME" >&2 && exit 2 ;;
esac
# OpenBLAS tuning variables of the calling shell must steer neither side's BLAS.
clean=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE -u OPENBLAS_NUM_THREADS -u OMP_NUM_THREADS)
source bench/compare-pytorch/torch_env.sh
torch_malloc "${TORCH_MALLOC:-default}" || exit 2
torch_env=("${clean[@]}" TORCH_MALLOC="${TORCH_MALLOC:-default}" "${torch_malloc_env[@]}")

require_torch
"$PY" bench/compare-pytorch/check_qwen2.py >/dev/null ||
  { echo "qwen2.py disagrees with the fixtures' goldens: no comparison" >&2 && exit 1; }

: >"$work/bench.jsonl"
[ "$BENCH" = 0 ] || for threads in $THREADS; do
  echo "bench, $threads thread(s): ours ($BACKEND on $RUNTIME), then PyTorch ($TORCH_DTYPE)…" >&2
  # shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
  "${clean[@]}" TINA_THREADS="$threads" "${ours[@]}" bench/real-size.ts --model "$MODEL" \
    --backend "$BACKEND" $BENCH_ARGS >>"$work/bench.jsonl"
  # shellcheck disable=SC2086
  "${torch_env[@]}" OMP_NUM_THREADS="$threads" "$PY" bench/compare-pytorch/real_size.py bench \
    --model "$MODEL" --dtype "$TORCH_DTYPE" $BENCH_ARGS >>"$work/bench.jsonl"
done

: >"$work/probe.jsonl"
if [ -n "${DATA:-}" ]; then
  config=${PROBE_CONFIG:-$work/probe-config.json}
  [ -n "${PROBE_CONFIG:-}" ] || echo '{"promptsPerStep": 2, "numGenerations": 2,
    "gradientAccumulationSteps": 1, "maxCompletionLength": 16, "maxPromptLength": 160,
    "maxSteps": 1, "checkpointEvery": 0, "learningRate": 1e-5,
    "gradientCheckpointing": true}' >"$config"
  echo "probe: ours (examples/train.ts on $RUNTIME)…" >&2
  threads_env=()
  [ -z "${PROBE_THREADS:-}" ] || threads_env=(TINA_THREADS="$PROBE_THREADS")
  /usr/bin/time -f '{"wallSeconds": %e, "peakRssBytes": %M}' -o "$work/time-ours.json" \
    "${clean[@]}" "${threads_env[@]}" "${ours[@]}" examples/train.ts --model "$MODEL" \
    --data "$DATA" --config "$config" --out "$work/run" ${PROBE_BACKEND:+--backend "$PROBE_BACKEND"} \
    >"$work/train.log" 2>&1 || { tail -20 "$work/train.log" >&2 && exit 1; }
  # The rows and lengths PyTorch repeats: the step's packed batch, from the metrics and config.
  read -r rows prompt completion < <("$PY" - "$work/run" <<'EOF'
import json, sys
run = sys.argv[1]
row = json.loads(open(f"{run}/metrics.jsonl").readline())
cfg = json.load(open(f"{run}/config.json"))
rows = cfg["promptsPerStep"] * cfg["numGenerations"]
completion = row["completions/max_length"]
# num_tokens = rows * (prompt width + completion width - 1): lib/train/step.ts's stepCost
print(rows, row["num_tokens"] // rows - completion + 1, completion)
EOF
)
  "$PY" - "$work/run" "$work/time-ours.json" "$RUNTIME" "${PROBE_THREADS:-default}" \
    >>"$work/probe.jsonl" <<'EOF'
import json, sys
run, timing, runtime, threads = sys.argv[1:]
row = json.loads(open(f"{run}/metrics.jsonl").readline())
summary = json.load(open(f"{run}/summary.json"))
t = json.load(open(timing))
print(json.dumps({"side": "ours", "backend": summary["backend"], "runtime": runtime,
                  "threads": threads, "stepSeconds": row["step_seconds"],
                  "generateSeconds": row["rollout_seconds"], "wallSeconds": t["wallSeconds"],
                  "peakRssBytes": t["peakRssBytes"] * 1024}))
EOF
  for threads in $THREADS; do
    echo "probe: PyTorch, $threads thread(s), $rows rows × ($prompt + $completion) tokens…" >&2
    /usr/bin/time -f '{"wallSeconds": %e}' -o "$work/time-torch.json" \
      "${torch_env[@]}" OMP_NUM_THREADS="$threads" "$PY" bench/compare-pytorch/real_size.py probe \
      --model "$MODEL" --dtype "$TORCH_DTYPE" --rows "$rows" --prompt "$prompt" \
      --completion "$completion" >"$work/torch-probe.json"
    "$PY" -c 'import json, sys; print(json.dumps({**json.load(open(sys.argv[1])), **json.load(open(sys.argv[2]))}))' \
      "$work/torch-probe.json" "$work/time-torch.json" >>"$work/probe.jsonl"
  done
fi

"$PY" bench/compare-pytorch/real_size_report.py "$work/bench.jsonl" "$work/probe.jsonl" "$OUT"
