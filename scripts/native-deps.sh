#!/usr/bin/env bash
# Installs what @dqa/native-cpu builds against (oneDNN headers, a C++ compiler, make, python3 for
# node-gyp) where they are missing and this shell may install Debian/Ubuntu packages (root, or sudo
# without a password). Anywhere else it says what is missing and carries on: DQA-TS then trains on
# its WebAssembly backend, and `--backend native-cpu` explains how to add the native one.
set -uo pipefail

missing=()
[ -f /usr/include/oneapi/dnnl/dnnl.hpp ] || missing+=(libdnnl-dev)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "native-deps: missing ${missing[*]} and no apt-get here; install oneDNN 2.x and a C++ compiler to build @dqa/native-cpu (DQA-TS works without it)." >&2
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "native-deps: missing ${missing[*]}; to build @dqa/native-cpu run: sudo apt-get install -y ${missing[*]} (DQA-TS works without it)." >&2
  exit 0
fi
echo "native-deps: installing ${missing[*]} for @dqa/native-cpu" >&2
if ! { "${as_root[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/dev/null; then
  echo "native-deps: apt-get could not install ${missing[*]}; DQA-TS carries on without @dqa/native-cpu." >&2
fi
exit 0
