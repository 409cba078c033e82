#!/usr/bin/env bash
# Packs a GPU-machine bundle from a CUDA build: dist/bin/{kiln,kiln_gpu_tests} (stripped) and dist/lib (the
# non-system shared libraries they load: protobuf, gRPC, abseil, libevent, ...; CUDA, cuBLASLt, cuDNN and libc are
# expected on the target), as .gpu/bundle.tar.xz. scripts/gpu_check.sh runs from the unpacked bundle.
# Usage: scripts/gpu_bundle.sh [BUILD_DIR]   (default build; builds kiln_cli and kiln_gpu_tests first)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
ninja -C "$build" -j"$(nproc)" kiln_cli kiln_gpu_tests
rm -rf dist && mkdir -p dist/bin dist/lib .gpu
cp "$build/bin/kiln" dist/bin/
cp "$(find "$build" -name kiln_gpu_tests -type f -perm -u+x | head -1)" dist/bin/
strip dist/bin/*
system='^(libc\.so|libm\.so|libdl\.so|librt\.so|libpthread\.so|libgcc_s|libstdc\+\+|ld-linux|libcuda|libcudart|libcublas|libcublasLt|libcudnn|libnvrtc|libnvJitLink|libnvidia|linux-vdso)'
for bin in dist/bin/*; do
  ldd "$bin" | awk '/=> \//{print $1" "$3}' | while read -r name path; do
    [[ $name =~ $system ]] || cp -L "$path" dist/lib/
  done
done
strip --strip-unneeded dist/lib/* 2>/dev/null || true
tar -cJf .gpu/bundle.tar.xz dist
ls -la .gpu/bundle.tar.xz
