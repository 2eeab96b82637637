#!/usr/bin/env bash
# Makes the PyTorch venv that tests/cli_open_clip.rs (open_clip loading a
# `witcurate export`) and `scripts/bench_train.sh --with-torch` use:
# $TORCH_VENV (default ~/.cache/witcurate/venv-torch) with torch and
# torchvision (the CPU wheels where their index is reachable, else PyPI's),
# a pinned open_clip_torch and the transformers its Hugging Face tokenizer
# loads with. Idempotent: a venv that already has them is
# kept as it is. Needs network the first time only.
set -euo pipefail

VENV="${TORCH_VENV:-$HOME/.cache/witcurate/venv-torch}"
REQUIREMENTS=("open_clip_torch==3.3.0" "transformers==5.24.0")

ready() {
  "$VENV/bin/python" - "${REQUIREMENTS[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
import torch, torchvision, open_clip, safetensors, transformers  # noqa: F401
for req in sys.argv[1:]:
    name, want = req.split("==")
    if version(name) != want:
        sys.exit(1)
PY
}
ready && exit 0

if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "setup_torch: python3 cannot make a venv (on Debian: apt-get install python3-venv)" >&2
  exit 1
fi
# A venv that does not run (say, its python3 was removed) is made anew.
if [ -e "$VENV" ] && ! "$VENV/bin/python" -c '' 2>/dev/null; then
  rm -rf "$VENV"
fi
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PIP=("$VENV/bin/pip" install --quiet --disable-pip-version-check)
if ! "$VENV/bin/python" -c 'import torch, torchvision' 2>/dev/null; then
  echo "setup_torch: installing torch and torchvision into $VENV" >&2
  # The CPU-only wheels; where their index is unreachable, PyPI's (with CUDA libraries).
  "${PIP[@]}" --index-url https://download.pytorch.org/whl/cpu torch torchvision ||
    "${PIP[@]}" torch torchvision
fi
echo "setup_torch: installing ${REQUIREMENTS[*]} into $VENV" >&2
"${PIP[@]}" "${REQUIREMENTS[@]}"
ready || {
  echo "setup_torch: $VENV still cannot import torch, torchvision and ${REQUIREMENTS[*]}" >&2
  exit 1
}
