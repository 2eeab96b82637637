#!/usr/bin/env bash
# Installs the system packages witcurate's demo and tests need, when missing.
# Idempotent; safe to run on every invocation. Needs root (or sudo) only when
# something is actually missing.
set -euo pipefail

need_apt=()
[ -f /usr/share/wordnet/data.noun ] || need_apt+=(wordnet-base)
# The `mpi` feature (multi-process training, tests/cli_train_mpi.rs): Open MPI's
# library and headers, its launcher, and libclang for rsmpi's bindings.
command -v mpicc >/dev/null 2>&1 || need_apt+=(libopenmpi-dev)
command -v mpirun >/dev/null 2>&1 || need_apt+=(openmpi-bin)
compgen -G '/usr/lib/llvm-*/lib/libclang.so' >/dev/null || need_apt+=(libclang-dev)

if [ "${#need_apt[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      echo "setup: missing Debian packages: ${need_apt[*]} (run as root or install them)" >&2
      exit 1
    fi
  fi
  echo "setup: installing ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# Python tools the tests use: pyarrow reads a shard as a real client would;
# moto's server is the S3-compatible store the storage tests start on
# 127.0.0.1; warcio and lxml read the bundled WARC independently of
# witcurate, for the extract comparison test; img2dataset's own resizer (its resizer.py and blurrer.py, run
# without the rest of the package, hence --no-deps) with the OpenCV and
# albumentations versions it supports computes the reference images the
# download stage is compared with. A venv at .venv-tools/ (git-ignored) with
# pinned versions, made once and reused. The demo does not need it, so
# without network this only warns; the tests that need it then fail and say
# to run this script.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="$ROOT/.venv-tools"
REQUIREMENTS=("pyarrow==26.0.1" "moto[server]==5.2.5" "warcio==1.8.1" "lxml==6.1.3" "numpy==2.4.6"
  "opencv-python-headless==4.14.0.94" "albumentations==1.4.24" "albucore==0.0.23"
  "scikit-learn==1.9.1" "scipy==1.17.1")
# Installed without their dependencies (only some of their modules are used).
NO_DEPS=("img2dataset==1.47.0")
have_requirements() {
  "$VENV/bin/python" - "${REQUIREMENTS[@]}" "${NO_DEPS[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
for req in sys.argv[1:]:
    name, want = req.split("==")
    name = name.split("[")[0]
    if version(name) != want:
        sys.exit(1)
PY
}
if ! have_requirements; then
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    echo "setup: python3 cannot make a venv (on Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
  # A venv that does not run (say, its python3 was removed) is made anew.
  if [ -e "$VENV" ] && ! "$VENV/bin/python" -c '' 2>/dev/null; then
    rm -rf "$VENV"
  fi
  echo "setup: installing ${REQUIREMENTS[*]} ${NO_DEPS[*]} into $VENV" >&2
  PIP=("$VENV/bin/pip" install --quiet --disable-pip-version-check)
  if ! { [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"; } ||
    ! "${PIP[@]}" "${REQUIREMENTS[@]}" ||
    ! "${PIP[@]}" --no-deps "${NO_DEPS[@]}"; then
    echo "setup: WARNING: could not install ${REQUIREMENTS[*]} ${NO_DEPS[*]} into $VENV (offline?); the tests that use them will fail until this script succeeds" >&2
  fi
fi
