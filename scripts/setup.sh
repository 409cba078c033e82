#!/usr/bin/env bash
# Installs every build and test dependency Kiln needs that is missing. Idempotent; safe to re-run.
set -euo pipefail
APT_PACKAGES=(build-essential cmake ninja-build ccache pkg-config git
  protobuf-compiler libprotobuf-dev libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev python3 python3-pip
  libjpeg62-turbo-dev libpng-dev libwebp-dev
  libgrpc++-dev protobuf-compiler-grpc
  libevent-dev wrk)
# Pinned Python packages: the ONNX protos and node test suite come from the pinned onnx wheel.
PIP_PACKAGES=(onnx==1.20.1 onnxruntime==1.31.1 "numpy<2.5" pytest grpcio grpcio-tools requests
  nvidia-cudnn-frontend)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if ! $PY - <<'PYEOF' 2>/dev/null
import onnx, onnxruntime, numpy, pytest, grpc, grpc_tools, requests, sysconfig, os
assert os.path.exists(os.path.join(sysconfig.get_paths()["purelib"], "include", "cudnn_frontend.h"))
assert onnx.__version__ == "1.20.1" and onnxruntime.__version__ == "1.31.1"
PYEOF
then
  echo "setup: installing Python packages: ${PIP_PACKAGES[*]}"
  $PY -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}" 2>&1 | grep -v "Running pip as the 'root'" || true
fi
echo "setup: dependencies present"
