#!/usr/bin/env bash
# The GPU benchmark: the GRPO training step and KV-cache decoding at the Qwen2.5-0.5B shape
# (random weights; bench/shape-qwen2.5-0.5b.json) on tfjs-backend-webgpu under Deno. (No CPU
# column: 2 GB of f32 weights plus XNNPACK's packed copies do not fit tfjs-wasm's 4 GB memory.)
#
#   bash bench/gpu.sh            (from the repository root, on a machine with a GPU)
#
# Installs what is missing (npm packages; Vulkan loader and drivers when apt is there), prints
# the adapter, runs the suites and writes bench/results/latest.json plus a copy of this run's
# rows and log under ${OUT:-bench/results}/gpu/.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT_DIR=${OUT:-bench/results}/gpu
mkdir -p "$OUT_DIR"
log="$OUT_DIR/gpu.log"
exec > >(tee "$log") 2>&1

echo "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "(no nvidia-smi)"
nproc

if [ ! -x node_modules/.bin/deno ]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund
fi
if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1 && command -v apt-get >/dev/null; then
  echo "== Vulkan loader"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libvulkan1 mesa-vulkan-drivers
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg-runtime}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

deno=node_modules/.bin/deno
echo "== WebGPU adapter"
"$deno" eval 'const a = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
const { vendor, architecture, device, description } = a?.info ?? {};
const { maxStorageBufferBindingSize, maxBufferSize } = a?.limits ?? {};
console.log(a ? JSON.stringify({ vendor, architecture, device, description, maxStorageBufferBindingSize, maxBufferSize }) : "no adapter");'

export TINA_BENCH_SHAPE=bench/shape-qwen2.5-0.5b.json
echo "== suites at $TINA_BENCH_SHAPE"
timeout "${SUITE_TIMEOUT:-480}" "$deno" run -A bench/run.ts --suite train-step,decode --backend webgpu ||
  echo "(the webgpu run failed or timed out: exit $?)"
cp bench/results/latest.json "$OUT_DIR/latest.json"
echo "== wrote $OUT_DIR"
