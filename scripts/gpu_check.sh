#!/usr/bin/env bash
# Runs Kiln's GPU checks on a GPU machine from a prebuilt bundle (dist/bin, dist/lib): the GPU kernel tests,
# ONNX node conformance on --device cuda, and the bundled models on the GPU vs ONNX Runtime. Results go to $OUT
# (or ./gpu-check-out). Usage: scripts/gpu_check.sh [all|tests|conformance|conformance-fp16|models|int8] ("int8" is
# not part of "all").
set -uo pipefail
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
source "$(dirname "$0")/gpu_env.sh"
nvidia-smi -L
what=${1:-all}
if [[ $what == all || $what == tests ]]; then
  echo "== GPU kernel tests"
  timeout 420 dist/bin/kiln_gpu_tests >"$OUT/gpu_tests.log" 2>&1
  echo "gpu tests rc=$?"; grep -E "^\[  (PASSED|FAILED|SKIPPED) \]|tests? from .* ran" "$OUT/gpu_tests.log" | head -60
  echo "slowest:"; grep -E "^\[ +OK \]" "$OUT/gpu_tests.log" | sed -E 's/.*\] (.*) \(([0-9]+) ms\)/\2 \1/' | sort -rn | head -8
fi
if [[ $what == all || $what == conformance || $what == conformance-fp16 ]]; then
  # conformance-fp16: FP16 engines judged with the fp16 budget (docs/conformance.md, "Budgets per precision").
  precision=fp32; [[ $what == conformance-fp16 ]] && precision=fp16
  echo "== ONNX node conformance, --device cuda --precision $precision"
  if [[ -f .gpu/node.tar.xz ]]; then tar -xJf .gpu/node.tar.xz -C /tmp; node=/tmp/node; else
  node=$(python3 -c "import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), 'backend/test/data/node'))"); fi
  timeout 260 "$KILN" conformance "$node" --device cuda --precision $precision >"$OUT/conformance_cuda_$precision.log" 2>&1
  echo "conformance rc=$?"; grep -E "^(FAIL|SKIP)" "$OUT/conformance_cuda_$precision.log" | head -40
  tail -1 "$OUT/conformance_cuda_$precision.log"
fi
if [[ $what == all || $what == models ]]; then
  echo "== bundled models on cuda vs onnxruntime"
  mkdir -p /tmp/kiln-models && python3 models/make_models.py /tmp/kiln-models >/dev/null
  python3 -m pytest -q -x tests/models --kiln "$KILN" --kiln-device cuda >"$OUT/models_cuda.log" 2>&1
  echo "models rc=$?"; tail -5 "$OUT/models_cuda.log"
fi
if [[ $what == int8 ]]; then
  # INT8 on CUDA (docs/int8.md, "INT8 on CUDA"): the quant and 8-bit pool kernel tests (every GEMM case on both
  # tactics), then ResNet-50 (self-calibrated) and BERT-base INT8 next to FP16, profiled, in the same call.
  echo "== int8 kernel tests"
  timeout 240 dist/bin/kiln_gpu_tests --gtest_filter='Quant*:GpuPool*' >"$OUT/gpu_tests_int8.log" 2>&1
  echo "int8 tests rc=$?"; grep -E "^\[  (PASSED|FAILED) \]" "$OUT/gpu_tests_int8.log"
  for model in resnet50 bert; do
    batches=128,1; [[ $model == bert ]] && batches=64,1
    for precision in int8 fp16; do
      timeout 200 python3 bench/gpu_compare.py --kiln "$KILN" --models $model --batches $batches --kiln-only --profile \
        --precision $precision --duration 2 --windows 3 --out "$OUT/${model}_$precision.json" \
        >"$OUT/${model}_$precision.log" 2>&1
      echo "$model $precision rc=$?"; grep -E "^\| (ResNet|BERT)|rel L2|time by op" "$OUT/${model}_$precision.log" | head -8
    done
  done
fi
