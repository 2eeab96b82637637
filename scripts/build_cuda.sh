#!/usr/bin/env bash
# Builds witcurate with the `cuda`, `nccl` and `mpi` features (NVIDIA GPUs,
# data-parallel training over NCCL between the GPUs of an MPI job), on a
# machine with or without a system CUDA toolkit:
#
#   scripts/build_cuda.sh                 # release build, compute capability 90 (H100)
#   CUDA_COMPUTE_CAP=80 scripts/build_cuda.sh
#   PROFILE=dev scripts/build_cuda.sh     # faster to build, slower to run
#   FEATURES=cuda scripts/build_cuda.sh   # one GPU, no MPI or NCCL needed
#   CUDA_TARGET_DIR=/elsewhere scripts/build_cuda.sh   # default target/cuda
#
# Without `nvcc` on PATH it installs NVIDIA's PyPI wheels for nvcc 13.0, the
# CUDA runtime and cuBLAS into $CUDA_VENV (default ~/.cache/witcurate/venv-cuda)
# and builds against them; without a system libnccl it installs NCCL's wheel
# (nvidia-nccl-cu13) there too. The `mpi`
# feature needs Open MPI's headers and libclang (scripts/setup.sh installs
# them). The binary lands in $CUDA_TARGET_DIR/{release,debug}/ so that the
# CPU build in target/ is left alone. A GPU is needed to run it, not to build
# it: without the NVIDIA driver (libcuda.so) the script checks that everything
# compiles, kernels included, and stops before linking.
set -euo pipefail
cd "$(dirname "$0")/.."

export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
FEATURES="${FEATURES:-cuda,nccl,mpi}"
TARGET="${CUDA_TARGET_DIR:-target/cuda}"
VENV="${CUDA_VENV:-$HOME/.cache/witcurate/venv-cuda}"
# NCCL for CUDA 13, the toolkit of the wheels below (cudarc's bindings are
# NCCL 2.30's; later 2.x releases keep its ABI).
NCCL_WHEEL="nvidia-nccl-cu13>=2.30"
# The directory of libnccl.so.2 in the venv's wheels, if installed.
nccl_lib() {
  [ -x "$VENV/bin/python" ] || return 0
  "$VENV/bin/python" - <<'PY' 2>/dev/null || true
import glob, os, nvidia
for root in nvidia.__path__:
    for lib in sorted(glob.glob(os.path.join(root, "*", "lib", "libnccl.so.2"))):
        print(os.path.dirname(lib))
        raise SystemExit
PY
}
# Makes the unversioned names the linker looks for (libcublas.so) point at the
# versioned libraries the wheels ship (libcublas.so.13) in $VENV/link, and
# puts that on the linker's path and $1 on the loader's.
link_wheel_libs() {
  local LINK="$VENV/link" lib
  mkdir -p "$LINK"
  for lib in "$1"/lib*.so.*; do
    ln -sf "$lib" "$LINK/$(basename "$lib" | sed 's/\.so\..*/.so/')"
  done
  case ":${LIBRARY_PATH:-}:" in *":$LINK:"*) ;; *) export LIBRARY_PATH="$LINK${LIBRARY_PATH:+:$LIBRARY_PATH}" ;; esac
  case ":${LD_LIBRARY_PATH:-}:" in *":$1:"*) ;; *) export LD_LIBRARY_PATH="$1${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ;; esac
}
if ! command -v nvcc >/dev/null; then
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
  link_wheel_libs "$ROOT/lib"
  export PATH="$ROOT/bin:$PATH"
  export CUDA_ROOT="$ROOT" CUDA_PATH="$ROOT"
fi
case ",$FEATURES," in
  *,nccl,*)
    if ! ldconfig -p 2>/dev/null | grep -q 'libnccl\.so ('; then
      # No system NCCL to link against (libnccl.so, from libnccl-dev): the
      # wheel's (for a system toolkit of another CUDA major version, install
      # the matching libnccl-dev or nvidia-nccl-cuXX wheel instead).
      if [ -z "$(nccl_lib)" ]; then
        [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check "$NCCL_WHEEL"
      fi
      NCCL_LIB=$(nccl_lib)
      [ -n "$NCCL_LIB" ] || { echo "build_cuda: no libnccl.so.2 after installing $NCCL_WHEEL" >&2; exit 1; }
      link_wheel_libs "$NCCL_LIB"
    fi
    ;;
esac
case ",$FEATURES," in
  *,mpi,* | *,nccl,*)
    command -v mpicc >/dev/null || {
      echo "build_cuda: features $FEATURES need Open MPI's headers (mpicc) and libclang: run scripts/setup.sh, or FEATURES=cuda for one GPU" >&2
      exit 1
    }
    ;;
esac
echo "nvcc: $(nvcc --version | tail -1); compute capability $CUDA_COMPUTE_CAP; features $FEATURES"

PROFILE="${PROFILE:-release}"
FLAGS=(--features "$FEATURES" --bin witcurate --target-dir "$TARGET")
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so'; then
  # No NVIDIA driver here, so nothing to link against: compile everything
  # (candle's kernels included, with nvcc) without the final link.
  echo "no libcuda.so (NVIDIA driver) on this machine: checking that the cuda build compiles, without linking"
  cargo check --workspace --all-targets "${FLAGS[@]:0:2}" --target-dir "$TARGET"
  echo "cuda build compiles; build on a machine with the NVIDIA driver to get a binary"
  exit 0
fi
if [ "$PROFILE" = release ]; then
  cargo build --release "${FLAGS[@]}"
  BIN=$TARGET/release/witcurate
else
  cargo build "${FLAGS[@]}"
  BIN=$TARGET/debug/witcurate
fi
# What running it needs where the CUDA libraries are not installed
# system-wide (scripts/gpu_check.sh sources it).
printf 'export LD_LIBRARY_PATH=%q\n' "${LD_LIBRARY_PATH:-}" >"$TARGET/env.sh"
echo "built $BIN (run with LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-} where the CUDA libraries are not installed system-wide; $TARGET/env.sh sets it)"
