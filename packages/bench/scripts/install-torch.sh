#!/bin/sh
# Installs PyTorch for `dqa bench speed`'s reference column: Debian's python3-torch, through apt.
# PyTorch is never a dependency of DQA-TS; only the speed benchmark's side-by-side run uses it.
#
#   sudo sh packages/bench/scripts/install-torch.sh     (or as root, without sudo)
#
# Does nothing when /usr/bin/python3 can already import torch.
set -eu

PYTHON=${DQA_PYTHON:-/usr/bin/python3}

if "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
  echo "PyTorch $("$PYTHON" -c 'import torch; print(torch.__version__)') is already installed for $PYTHON"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-torch.sh: apt-get not found; this script installs Debian's python3-torch." >&2
  echo "Install PyTorch for $PYTHON another way (e.g. pip install torch), then rerun dqa bench speed." >&2
  exit 1
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
  else
    echo "install-torch.sh: run it as root (apt-get needs root) or install sudo." >&2
    exit 1
  fi
fi

$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y python3-torch

"$PYTHON" -c 'import torch; print("PyTorch", torch.__version__, "installed for", __import__("sys").executable)'
