#!/usr/bin/env bash
# Installs everything tessera needs to build and test, idempotently:
#  - Debian packages (compiler tools, clang for the fuzzers, Ninja, ccache, OpenCV, CLI11, spdlog, Catch2, yaml-cpp,
#    nlohmann-json, ONNX + protobuf, Gloo's headers);
#  - a Python venv outside the checkout with the pinned LibTorch wheel and the test oracles.
# A second run does nothing but check.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TORCH_VERSION=2.11.0          # CUDA 13.0 build on PyPI (torch.version.cuda == '13.0'), matches nvcc 13.0
ORACLES=(numpy==2.3.5 scipy==1.16.3 scikit-image==0.25.2 onnx==1.19.1 onnxruntime==1.23.2
         tensorboard==2.20.0 safetensors==0.6.2 pyyaml==6.0.3 torchvision==0.26.0)

APT_PACKAGES=(build-essential ninja-build ccache pkg-config git
  libopencv-dev libcli11-dev libspdlog-dev libfmt-dev catch2 libyaml-cpp-dev nlohmann-json3-dev
  libonnx-dev libprotobuf-dev protobuf-compiler python3-venv
  libgloo-dev   # headers only: compiling against c10d's ProcessGroupGloo (the Gloo that runs is the wheel's)
  clang libclang-rt-dev)  # libFuzzer and the sanitizers' runtimes, for tests/fuzz (scripts/fuzz.sh)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp="$TESSERA_VENV/.tessera-stamp"
want="torch==$TORCH_VERSION ${ORACLES[*]}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  mkdir -p "$TESSERA_CACHE"
  if [ ! -x "$TESSERA_PYTHON" ]; then
    log "creating venv at $TESSERA_VENV"
    # Debian's python3 has a stable path; fall back to whatever python3 is on PATH.
    PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
    "$PY" -m venv "$TESSERA_VENV"
  fi
  log "installing torch==$TORCH_VERSION and test oracles into the venv"
  "$TESSERA_PYTHON" -m pip install -q --upgrade pip
  "$TESSERA_PYTHON" -m pip install -q "torch==$TORCH_VERSION" "${ORACLES[@]}"
  "$TESSERA_PYTHON" - <<PY
import torch
assert torch.__version__.startswith("$TORCH_VERSION"), torch.__version__
assert torch.version.cuda and torch.version.cuda.startswith("13."), torch.version.cuda
assert torch.compiled_with_cxx11_abi()
PY
  echo "$want" > "$stamp"
fi
log "bootstrap ok (venv: $TESSERA_VENV)"
