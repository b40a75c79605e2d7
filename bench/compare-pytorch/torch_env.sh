# Sourced by real_size.sh and alternate.sh: PyTorch's presence, and glibc's malloc settings for
# PyTorch, whose CPU allocator is glibc's malloc. In this machine's VM a page a process gives back costs ~45 us to touch again,
# so PyTorch runs fastest when freed memory stays in its heap. Ours keeps its buffers in a pool of
# its own, whatever glibc does (its step measured the same under either setting).
#   default  glibc's own settings
#   keep     freed memory stays in the heap (0.99M step 13.6k vs 3.4-7.1k tokens/s; 0.5B 24-26 vs 21)
#   fixed    a 128 KB mmap threshold: every larger tensor mapped anew (0.5B step 2.4x slower), freed
#            activations given back at once (0.5B peak RSS 2.6 instead of ~6 GB)
PY=/usr/bin/python3 # Debian's python3-torch installs for the system interpreter only

# Exits with the package to install when PyTorch is missing (bench/compare-pytorch/run.sh installs it).
require_torch() {
  "$PY" -c "import torch" 2>/dev/null || {
    echo "no PyTorch for $PY: apt-get install -y python3-torch libopenblas0-pthread" >&2
    exit 1
  }
}

# Usage: torch_malloc NAME; then "${torch_malloc_env[@]}" holds the variables for env.
torch_malloc() {
  case "$1" in
    default) torch_malloc_env=() ;;
    keep) torch_malloc_env=(MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=68719476736
      MALLOC_TOP_PAD_=268435456) ;;
    fixed) torch_malloc_env=(MALLOC_MMAP_THRESHOLD_=131072) ;;
    *) echo "PyTorch's malloc settings: default, keep or fixed, got $1" >&2 && return 2 ;;
  esac
}
