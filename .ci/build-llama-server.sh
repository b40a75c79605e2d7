#!/usr/bin/env bash
# Builds llama.cpp's `llama-server` from the source bundle shipped inside the npm package
# node-llama-cpp (pinned), caching the binary by version outside the checkout so later runs skip
# the ~5 min build. Prints the binary's path on stdout (progress goes to stderr); exits non-zero
# if it cannot build. Needs npm (registry reachable), git, cmake and a C++ compiler.
set -euo pipefail

version="${NODE_LLAMA_CPP_VERSION:-3.21.1}"
cache_root="${TINA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tina-ts}"
target_dir="$cache_root/llama-server-$version"
binary="$target_dir/bin/llama-server"

if [ -x "$binary" ] && LD_LIBRARY_PATH="$target_dir/bin" "$binary" --version >/dev/null 2>&1; then
  echo "$binary"
  exit 0
fi

for tool in npm git cmake c++; do
  command -v "$tool" >/dev/null || { echo "build-llama-server: '$tool' not found" >&2; exit 2; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/llama-server-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
jobs="${LLAMA_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"

echo "build-llama-server: fetching node-llama-cpp@$version source bundle" >&2
(cd "$work" && npm pack "node-llama-cpp@$version" --silent >/dev/null)
tar -xzf "$work"/node-llama-cpp-"$version".tgz -C "$work" package/llama/gitRelease.bundle
git clone --quiet "$work/package/llama/gitRelease.bundle" "$work/llama.cpp" >&2

echo "build-llama-server: building llama-server with $jobs jobs (several minutes)" >&2
cmake -S "$work/llama.cpp" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF \
  -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF >&2
cmake --build "$work/build" -t llama-server -j "$jobs" >&2

# The shared libraries are copied beside the binary; run it with LD_LIBRARY_PATH=<its dir>
# (lib/rollout/llama_server.ts does). Installed atomically.
staging="$cache_root/.llama-server-$version.partial.$$"
rm -rf "$staging"
mkdir -p "$staging/bin"
cp -a "$work/build/bin/." "$staging/bin/"
find "$work/build" -name '*.so*' -exec cp -a {} "$staging/bin/" \;
mv -T "$staging" "$target_dir"
echo "$binary"
