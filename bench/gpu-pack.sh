#!/usr/bin/env bash
# Packs, here, what bench/gpu.sh needs on a GPU machine without network access (such as the
# device tool's): .gpu/deno.xz (this checkout's Deno binary, xz-compressed, ~31 MB), .gpu/run.js
# (bench/run.ts with its npm dependencies in one file, ~3 MB) and .gl/libvulkan1*.deb (the Vulkan
# loader). Both folders are git-ignored: carry them along with the checkout (device tool:
# carry [".gpu", ".gl"]) and run `bash bench/gpu.sh` there.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/deno/deno ] || npm ci --no-audit --no-fund
mkdir -p .gpu .gl

xz -T0 -6 -c node_modules/deno/deno >.gpu/deno.xz
# tfjs-core's node build loads `util` with require(): give the ES module bundle a real one.
node_modules/.bin/esbuild bench/run.ts --bundle --format=esm --platform=node --target=es2022 \
  --external:@tensorflow/tfjs-backend-wasm --log-level=warning --outfile=.gpu/run.js \
  --banner:js='import { createRequire } from "node:module"; const require = createRequire(import.meta.url);'
(cd .gl && apt-get -oAPT::Architecture=amd64 download libvulkan1 2>/dev/null) ||
  echo "(no libvulkan1 .deb fetched: gpu.sh will use the machine's own loader)"
du -sh .gpu .gl
