#!/usr/bin/env bash
# Builds the Kiln serving image kiln:<version>-<variant> (version: CMakeLists.txt project VERSION).
# Usage: deploy/docker/build.sh [--from-host-build BUILD_DIR] [--variant cpu|cuda13] [--save FILE.tar]
#   default (release): the multi-stage build compiles Kiln (CPU, no CUDA) inside the builder stage on the pinned
#     Debian base; ccache persists in a BuildKit cache mount. Needs the Debian mirror (apt in the builder stage).
#   --from-host-build BUILD_DIR: packs BUILD_DIR/bin/kiln and the libraries it loads on this (bookworm) host instead
#     of compiling again (what CI does: seconds, not the ~20 min of a cold compile). The variant follows the binary:
#     a binary linked with cuBLASLt (a host with nvcc) is the cuda13 variant, and gets cuDNN's engine libraries too.
# Prints the tag, image id and size. Needs root (it starts deploy/docker/dockerd.sh's private daemon if not running).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
FROM_HOST="" VARIANT="" SAVE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --from-host-build) FROM_HOST=${2:?--from-host-build needs BUILD_DIR}; shift 2 ;;
    --variant) VARIANT=${2:?--variant needs cpu or cuda13}; shift 2 ;;
    --save) SAVE=${2:?--save needs FILE}; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "build.sh: error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$VARIANT" in ""|cpu|cuda13) ;; *) echo "build.sh: error: --variant must be cpu or cuda13, got '$VARIANT'" >&2; exit 2 ;; esac
VERSION=$(sed -n 's/^project(kiln VERSION \([0-9.]*\).*/\1/p' "$REPO/CMakeLists.txt")
[ -n "$VERSION" ] || { echo "build.sh: error: no project(kiln VERSION x.y.z) in CMakeLists.txt" >&2; exit 1; }
source "$HERE/cuda-libs.sh"
eval "$(bash "$HERE/dockerd.sh" start)"
bash "$HERE/base.sh" >/dev/null
CTX=$(mktemp -d /var/tmp/kiln-docker-ctx.XXXXXX)
trap 'rm -rf "$CTX"' EXIT
ARGS=()
t0=$(date +%s)
if [ -n "$FROM_HOST" ]; then
  BIN=$FROM_HOST/bin/kiln
  [ -x "$BIN" ] || { echo "build.sh: error: $BIN does not exist (build Kiln first: bash scripts/build.sh)" >&2; exit 1; }
  linked=cpu; EXTRA=()
  if ldd "$BIN" | grep -q 'libcudnn'; then
    linked=cuda13
    cudnn=$(ldd "$BIN" | awk '/libcudnn\.so/{print $3}')
    mapfile -t EXTRA < <(cuda_dlopen_libs "$cudnn")
  fi
  if [ -n "$VARIANT" ] && [ "$VARIANT" != "$linked" ]; then
    echo "build.sh: error: $BIN is a $linked build, not $VARIANT (build with -DKILN_ENABLE_CUDA=OFF for cpu)" >&2; exit 1
  fi
  VARIANT=$linked
  bash "$HERE/collect-runtime.sh" "$BIN" "$CTX/host-rootfs" ${EXTRA[@]+"${EXTRA[@]}"}
  if [ -d /usr/local/cuda/dist-info ] && [ "$VARIANT" = cuda13 ]; then  # the NVIDIA PyPI wheels the libraries came from
    ls /usr/local/cuda/dist-info | sed 's/\.dist-info$//' >"$CTX/host-rootfs/usr/share/kiln/cuda-wheels.txt"
  fi
  cp "$HERE/Dockerfile" "$CTX/Dockerfile"
  ARGS+=(--build-arg ROOTFS_FROM=from-host)
else
  VARIANT=${VARIANT:-cpu}
  [ "$VARIANT" = cpu ] || { echo "build.sh: error: the source build makes the cpu variant; cuda13 comes from --from-host-build of a CUDA build tree" >&2; exit 1; }
  # A context of exactly what the builder stage compiles (hard links: instant, no copy).
  cp -al "$REPO/CMakeLists.txt" "$REPO/include" "$REPO/src" "$REPO/tools" "$CTX/"
  mkdir -p "$CTX/deploy/docker" "$CTX/host-rootfs"
  cp "$HERE/collect-runtime.sh" "$HERE/Dockerfile" "$CTX/deploy/docker/"
  cp "$HERE/Dockerfile" "$CTX/Dockerfile"
  onnx_dir=$(python3 -c "import onnx, os; print(os.path.dirname(onnx.__file__))") ||
    { echo "build.sh: error: the onnx Python package is missing (run scripts/setup.sh)" >&2; exit 1; }
  mkdir -p "$CTX/onnx-protos/onnx"
  cp "$onnx_dir"/*.proto "$CTX/onnx-protos/onnx/"
  echo "# onnx-ml.proto and onnx-data.proto of onnx $(python3 -c 'import onnx; print(onnx.__version__)')" \
    >"$CTX/onnx-protos/onnx/__init__.py"
  ARGS+=(--build-arg ROOTFS_FROM=from-source --network host)
fi
TAG=kiln:$VERSION-$VARIANT
DOCKER_BUILDKIT=1 "$KILN_DOCKER" build -q "${ARGS[@]}" --build-arg VERSION="$VERSION" --build-arg VARIANT="$VARIANT" \
  -t "$TAG" -f "$CTX/Dockerfile" "$CTX" >/dev/null
# Disk: dangling images of earlier builds of this tag, the uploaded contexts (1.2 GB each for cuda13), and build cache
# beyond 5 GB (least recently used first: the builder stage's packages and the ccache mount stay).
"$KILN_DOCKER" image prune -f >/dev/null 2>&1 || true
"$KILN_DOCKER" builder prune -f --filter type=source.local >/dev/null 2>&1 || true
"$KILN_DOCKER" builder prune -f --keep-storage 5GB >/dev/null 2>&1 || true
size=$("$KILN_DOCKER" image inspect -f '{{.Size}}' "$TAG")
echo "build.sh: $TAG $("$KILN_DOCKER" image inspect -f '{{.Id}}' "$TAG") $((size / 1000000)) MB in $(( $(date +%s) - t0 )) s"
if [ -n "$SAVE" ]; then "$KILN_DOCKER" save "$TAG" -o "$SAVE" && echo "build.sh: saved $SAVE"; fi
