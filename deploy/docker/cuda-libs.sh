#!/usr/bin/env bash
# Sourced by build.sh and gpu-check.sh: the CUDA libraries a Kiln CUDA build opens at run time, which ldd does not list.
# The libraries a CUDA build loads with dlopen: cuDNN's engine libraries next to libcudnn, and cuBLASLt and NVRTC
# (src/backends/cuda/lazy_libs.cc loads them on first use), found next to libcudnn or in the CUDA toolkit.
cuda_dlopen_libs() {
  local dir d name
  dir=$(dirname "$1")
  for f in "$dir"/libcudnn_*.so.9; do [ -f "$f" ] && echo "$f"; done
  for name in libcublasLt.so.13 libnvrtc.so.13 libnvrtc-builtins.so.13.0; do
    for d in "$dir" /usr/local/cuda/lib /usr/local/cuda/lib64; do
      if [ -f "$d/$name" ]; then echo "$d/$name"; break; fi
    done
  done
}
