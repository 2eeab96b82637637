#!/usr/bin/env bash
# Builds witcurate with the `cuda` feature (NVIDIA GPUs), on a machine with or
# without a system CUDA toolkit:
#
#   scripts/build_cuda.sh                 # release build, compute capability 90 (H100)
#   CUDA_COMPUTE_CAP=80 scripts/build_cuda.sh
#   PROFILE=dev scripts/build_cuda.sh     # faster to build, slower to run
#
# Without `nvcc` on PATH it installs NVIDIA's PyPI wheels for nvcc 13.0, the
# CUDA runtime and cuBLAS into $CUDA_VENV (default ~/.cache/witcurate/venv-cuda)
# and builds against them. The binary lands in target/cuda/{release,debug}/ so
# that the CPU build in target/ is left alone. A GPU is needed to run it, not to
# build it: without the NVIDIA driver (libcuda.so) the script checks that
# everything compiles, kernels included, and stops before linking.
set -euo pipefail
cd "$(dirname "$0")/.."

export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
if ! command -v nvcc >/dev/null; then
  VENV="${CUDA_VENV:-$HOME/.cache/witcurate/venv-cuda}"
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
  fi
  ROOT=$("$VENV/bin/python" -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13"))' 2>/dev/null || true)
  if [ -z "$ROOT" ] || [ ! -x "$ROOT/bin/nvcc" ] || [ ! -e "$ROOT/include/nv/target" ]; then
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
      "nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-runtime==13.0.*" "nvidia-cublas==13.0.*" "nvidia-cuda-nvrtc==13.0.*" "nvidia-cuda-cccl==13.0.*" \
      "nvidia-nvvm==13.0.*" "nvidia-cuda-crt==13.0.*" nvidia-curand
    ROOT=$("$VENV/bin/python" -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13"))')
  fi
  # The wheels ship only versioned libraries (libcublas.so.13); the linker
  # looks for the unversioned names.
  LINK="$VENV/link"
  mkdir -p "$LINK"
  for lib in "$ROOT"/lib/lib*.so.*; do
    ln -sf "$lib" "$LINK/$(basename "$lib" | sed 's/\.so\..*/.so/')"
  done
  export PATH="$ROOT/bin:$PATH"
  export CUDA_ROOT="$ROOT" CUDA_PATH="$ROOT"
  export LIBRARY_PATH="$LINK${LIBRARY_PATH:+:$LIBRARY_PATH}"
  export LD_LIBRARY_PATH="$ROOT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
echo "nvcc: $(nvcc --version | tail -1); compute capability $CUDA_COMPUTE_CAP"

PROFILE="${PROFILE:-release}"
FLAGS=(--features cuda --bin witcurate --target-dir target/cuda)
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so'; then
  # No NVIDIA driver here, so nothing to link against: compile everything
  # (candle's kernels included, with nvcc) without the final link.
  echo "no libcuda.so (NVIDIA driver) on this machine: checking that the cuda build compiles, without linking"
  cargo check --workspace --all-targets "${FLAGS[@]:0:2}" --target-dir target/cuda
  echo "cuda build compiles; build on a machine with the NVIDIA driver to get a binary"
  exit 0
fi
if [ "$PROFILE" = release ]; then
  cargo build --release "${FLAGS[@]}"
  BIN=target/cuda/release/witcurate
else
  cargo build "${FLAGS[@]}"
  BIN=target/cuda/debug/witcurate
fi
# What running it needs where the CUDA libraries are not installed
# system-wide (scripts/gpu_check.sh sources it).
printf 'export LD_LIBRARY_PATH=%q\n' "${LD_LIBRARY_PATH:-}" >target/cuda/env.sh
echo "built $BIN (run with LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-} where the CUDA libraries are not installed system-wide; target/cuda/env.sh sets it)"
