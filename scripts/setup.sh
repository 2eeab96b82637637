#!/usr/bin/env bash
# Installs the system packages witcurate's demo and tests need, when missing.
# Idempotent; safe to run on every invocation. Needs root (or sudo) only when
# something is actually missing.
set -euo pipefail

need_apt=()
[ -f /usr/share/wordnet/data.noun ] || need_apt+=(wordnet-base)

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
  $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
