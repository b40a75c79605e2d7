#!/usr/bin/env bash
# The GPU benchmark: the GRPO training step and KV-cache decoding at the Qwen2.5-0.5B shape
# (random weights; bench/shape-qwen2.5-0.5b.json) on tfjs-backend-webgpu under Deno. (No CPU
# column: 2 GB of f32 weights plus XNNPACK's packed copies do not fit tfjs-wasm's 4 GB memory.)
#
#   bash bench/gpu.sh            (from the repository root, on a machine with a GPU)
#
# Uses .gpu/ and .gl/ from bench/gpu-pack.sh when present (for machines without network access);
# otherwise installs the npm packages. Prints the adapter, runs the suites and copies this run's
# rows and log to ${OUT:-bench/results}/gpu/.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT_DIR=${OUT:-bench/results}/gpu
mkdir -p "$OUT_DIR"
exec > >(tee "$OUT_DIR/gpu.log") 2>&1

echo "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "(no nvidia-smi)"
nproc

if [ -f .gpu/deno.xz ]; then
  echo "== packed Deno and bundle (.gpu)"
  deno=/tmp/tina-deno
  python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
    .gpu/deno.xz "$deno"
  chmod +x "$deno"
  program=.gpu/run.js
  results=.gpu/results/latest.json
else
  [ -x node_modules/.bin/deno ] || npm ci --no-audit --no-fund
  deno=node_modules/.bin/deno
  program=bench/run.ts
  results=bench/results/latest.json
fi

if compgen -G ".gl/*.deb" >/dev/null; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$nvidia_icd" ] && ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
  export VK_DRIVER_FILES=$nvidia_icd
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg-runtime}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

echo "== WebGPU adapter"
"$deno" eval 'const a = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
const { vendor, architecture, device, description } = a?.info ?? {};
const { maxStorageBufferBindingSize, maxBufferSize } = a?.limits ?? {};
console.log(a ? JSON.stringify({ vendor, architecture, device, description, maxStorageBufferBindingSize, maxBufferSize }) : "no adapter");'

export TINA_BENCH_SHAPE=$PWD/bench/shape-qwen2.5-0.5b.json
echo "== suites at $TINA_BENCH_SHAPE"
timeout "${SUITE_TIMEOUT:-480}" "$deno" run -A "$program" --suite train-step,decode --backend webgpu ||
  echo "(the webgpu run failed or timed out: exit $?)"
[ -f "$results" ] && cp "$results" "$OUT_DIR/latest.json"
echo "== wrote $OUT_DIR"
