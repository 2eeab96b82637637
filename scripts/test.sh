#!/usr/bin/env bash
# Runs every test of the project. Installs what the tests need first.
#   scripts/test.sh                # everything
#   scripts/test.sh -p pipeline    # extra arguments go to `cargo test`
# Without arguments it also runs the MPI training tests (--features mpi).
# WITCURATE_SKIP_SLURM=1 skips the real-cluster test, WITCURATE_SKIP_DEMO=1
# the reduced run of scripts/demo.sh (and its kill-and-resume test,
# WITCURATE_SKIP_DEMO_RESUME=1 that one alone), WITCURATE_SKIP_PY=1 the
# open_clip tests when their torch venv (scripts/setup_torch.sh) is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
if [ "${WITCURATE_SKIP_PY:-0}" != 1 ] && ! bash scripts/setup_torch.sh; then
  echo "test.sh: the torch venv for the open_clip tests could not be made (offline?);" \
    "WITCURATE_SKIP_PY=1 runs the other tests without it" >&2
  exit 1
fi

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Tests run in parallel: one math thread per trainer test, so that candle's
# spinning barriers never wait on a thread that another test took the core from.
export CANDLE_NUM_THREADS="${CANDLE_NUM_THREADS:-1}"
cargo test --workspace --all-targets "$@"
# Doc tests (not part of --all-targets).
cargo test --workspace --doc "$@"

if [ "$#" -eq 0 ]; then
  # Multi-process training under mpirun (the `mpi` feature; scripts/setup.sh
  # installed Open MPI): the binary built with the feature, run as MPI jobs.
  echo "==> training on MPI ranks (--features mpi)"
  cargo test -p witcurate --features mpi --test cli_train_mpi
fi

if [ "$#" -eq 0 ]; then
  if [ "${WITCURATE_SKIP_SLURM:-0}" != 1 ]; then
    echo "==> Slurm executor on a real single-node cluster"
    bash scripts/test_slurm.sh
  fi
  if [ "${WITCURATE_SKIP_DEMO:-0}" != 1 ]; then
    echo "==> the README's main command, reduced size"
    bash scripts/test_demo.sh
  fi
fi
