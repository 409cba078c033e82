#!/usr/bin/env bash
# Checks the cuda13 image's GPU path on a GPU machine without docker: runs the image's kiln binary with exactly the
# image's library set (collect-runtime.sh, the same step build.sh runs) plus only the node's driver libcuda.so.1, as
# uid 10001, builds the bundled small CNN with --device cuda (fp32 and fp16) and compares the outputs with the CPU
# engine's. Usage: deploy/docker/gpu-check.sh [KILN_BINARY] (default build/bin/kiln). Exit 0 = the GPU path works.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${1:-$HERE/../../build/bin/kiln}
W=$(mktemp -d /tmp/kiln-gpu-check.XXXXXX)
trap 'rm -rf "$W"' EXIT
R=$W/rootfs
cudnn=$(ldd "$BIN" | awk '/libcudnn\.so/{print $3}')
[ -n "$cudnn" ] || { echo "gpu-check.sh: error: $BIN is not a CUDA build" >&2; exit 1; }
source "$HERE/cuda-libs.sh"
mapfile -t EXTRA < <(cuda_dlopen_libs "$cudnn")
bash "$HERE/collect-runtime.sh" "$BIN" "$R" "${EXTRA[@]}"
drv=$(ldconfig -p | awk '/libcuda\.so\.1 /{print $NF; exit}')
[ -n "$drv" ] || { echo "gpu-check.sh: error: no NVIDIA driver (libcuda.so.1) on this machine" >&2; exit 1; }
mkdir -p "$W/driver" && cp -L "$drv" "$W/driver/"
LIBS=$(find "$R" -name '*.so*' -printf '%h\n' | sort -u | paste -sd:)
LOADER=$R/usr/lib64/ld-linux-x86-64.so.2
# Every library the binary links must resolve inside the image's rootfs.
outside=$("$LOADER" --library-path "$LIBS" --list "$R/usr/local/bin/kiln" | awk '$2 == "=>" {print $3}' | grep -v "^$R/" || true)
[ -z "$outside" ] || { echo "gpu-check.sh: error: libraries resolved outside the image: $outside" >&2; exit 1; }
chmod -R a+rX "$W"
# OMP_WAIT_POLICY set: kiln run would otherwise re-exec /proc/self/exe (here the loader) to set it (tools/kiln/main.cc).
kiln() {
  OMP_WAIT_POLICY=PASSIVE setpriv --reuid 10001 --regid 10001 --clear-groups \
    "$LOADER" --library-path "$LIBS:$W/driver" "$R/usr/local/bin/kiln" "$@"
}
python3 "$HERE/../../models/make_models.py" "$W/m" >/dev/null
python3 -c "import numpy as np; np.save('$W/x.npy', np.random.default_rng(3).standard_normal((4, 3, 32, 32), dtype=np.float32))"
chmod -R a+rwX "$W"
kiln build "$W/m/small_cnn.onnx" -o "$W/cpu.kiln" --device cpu >/dev/null
kiln run "$W/cpu.kiln" --input image="$W/x.npy" --output-dir "$W/out_cpu" --output-format npy >/dev/null
for p in fp32 fp16; do
  kiln build "$W/m/small_cnn.onnx" -o "$W/gpu_$p.kiln" --device cuda --precision $p
  kiln run "$W/gpu_$p.kiln" --input image="$W/x.npy" --output-dir "$W/out_$p" --output-format npy >/dev/null
  python3 - "$W" "$p" <<'PY'
import sys, numpy as np
w, p = sys.argv[1:]
ref, got = np.load(f"{w}/out_cpu/logits.npy"), np.load(f"{w}/out_{p}/logits.npy")
err = float(np.max(np.abs(ref - got)))
tol = 1e-3 if p == "fp32" else 3e-2
print(f"gpu-check: cuda {p} logits {list(got.shape)} max|gpu - cpu| = {err:.2e} (tolerance {tol})")
sys.exit(0 if err <= tol else 1)
PY
done
kiln inspect "$W/gpu_fp16.kiln" | head -5
echo "gpu-check: the image's kiln and libraries ran the small CNN on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1) as uid 10001"
