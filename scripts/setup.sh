#!/usr/bin/env bash
# Installs every build and test dependency Kiln needs that is missing. Idempotent; safe to re-run.
set -euo pipefail
APT_PACKAGES=(build-essential cmake ninja-build ccache pkg-config git
  protobuf-compiler libprotobuf-dev libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev python3 python3-pip
  libjpeg62-turbo-dev libpng-dev libwebp-dev
  libgrpc++-dev protobuf-compiler-grpc
  libevent-dev wrk zlib1g-dev
  libdnnl-dev libomp-dev
  ocl-icd-opencl-dev  # dnnl's CMake config needs OpenCL (a Recommends of libdnnl-dev, skipped by --no-install-recommends)
  docker.io debootstrap yamllint)  # deploy/: the serving image (tests/deploy) and the chart's YAML lint
# Pinned Python packages: the ONNX protos and node test suite come from the pinned onnx wheel.
# Client compatibility suites (tests/server/test_triton_clients.py, test_kserve_sdk.py): tritonclient and the kserve
# SDK both need protobuf 6; grpcio-tools 1.81.1 is the newest built for it (1.82+ require protobuf 7).
PIP_PACKAGES=(onnx==1.20.1 onnxruntime==1.31.1 "numpy<2.5" pytest grpcio grpcio-tools==1.81.1 "protobuf>=6.33.5,<7"
  requests "tritonclient[http,grpc]==2.73.0" kserve==0.21.0 nvidia-cudnn-frontend
  nanobind==3.1.0 scikit-build-core==1.1.2)  # the Python package's bindings and wheel build (docs/python.md)
PIP_PACKAGES+=(kubernetes-validate==1.37.0 helm-python-sdk==0.2.2 pyyaml)  # deploy/: chart schemas, Helm v4 renderer (no helm in Debian)

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
from importlib.metadata import version
assert version("tritonclient") == "2.73.0" and version("kserve") == "0.21.0" and version("grpcio-tools") == "1.81.1"
import tritonclient.http.aio, tritonclient.grpc.aio, tritonclient.utils.shared_memory  # noqa: E401
import geventhttpclient, aiohttp, httpx, google.protobuf  # noqa: E401
assert google.protobuf.__version__.startswith("6.")
import kubernetes_validate, helm_python, yaml  # noqa: E401
assert version("nanobind") == "3.1.0" and version("scikit-build-core") == "1.1.2"
PYEOF
then
  echo "setup: installing Python packages: ${PIP_PACKAGES[*]}"
  $PY -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}" 2>&1 | grep -v "Running pip as the 'root'" || true
fi
echo "setup: dependencies present"
