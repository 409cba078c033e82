# Sourced on a GPU machine next to an unpacked bundle (scripts/gpu_bundle.sh): puts the bundle's libraries and, when
# PyTorch ships one, its newer cuDNN first on LD_LIBRARY_PATH. Usage: source scripts/gpu_env.sh
cudnn_lib=$(python3 -c "import nvidia.cudnn as m, os; print(os.path.join(list(m.__path__)[0], 'lib'))" 2>/dev/null)
# cuBLASLt and NVRTC are opened on first use (src/backends/cuda/lazy_libs.cc): by soname, so PyTorch's copies serve
# when the CUDA toolkit's are not on the loader's path.
cublas_lib=$(python3 -c "import nvidia.cublas as m, os; print(os.path.join(list(m.__path__)[0], 'lib'))" 2>/dev/null)
nvrtc_lib=$(python3 -c "import nvidia.cuda_nvrtc as m, os; print(os.path.join(list(m.__path__)[0], 'lib'))" 2>/dev/null)
export LD_LIBRARY_PATH="${cudnn_lib:+$cudnn_lib:}$PWD/dist/lib:${LD_LIBRARY_PATH:-}${cublas_lib:+:$cublas_lib}${nvrtc_lib:+:$nvrtc_lib}"
export KILN=$PWD/dist/bin/kiln
