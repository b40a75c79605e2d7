#!/bin/sh
# Installs a software Vulkan driver (Mesa lavapipe) so Deno's WebGPU finds an adapter on a
# machine without a GPU, and makes the XDG_RUNTIME_DIR the Vulkan loader expects.
# Idempotent: safe to run on every CI job. Needs root or sudo, on Debian/Ubuntu.
# Usage: eval "$(.ci/install-webgpu.sh)"   (progress goes to stderr; stdout is the export line)
set -eu

if ! dpkg -s mesa-vulkan-drivers >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends \
    mesa-vulkan-drivers >&2
fi

dir="${XDG_RUNTIME_DIR:-${TMPDIR:-/tmp}/xdg-runtime-$(id -u)}"
mkdir -p "$dir"
chmod 700 "$dir"
# GitHub Actions: make it visible to later steps as well.
if [ -n "${GITHUB_ENV:-}" ]; then echo "XDG_RUNTIME_DIR=$dir" >>"$GITHUB_ENV"; fi
echo "webgpu: software Vulkan ready; XDG_RUNTIME_DIR=$dir" >&2
echo "export XDG_RUNTIME_DIR=$dir"
