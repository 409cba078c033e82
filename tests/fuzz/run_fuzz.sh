#!/usr/bin/env bash
# Bounded fuzzing of the ONNX model loader and the engine file loader with libFuzzer + ASan.
#   tests/fuzz/run_fuzz.sh            # 60 s per fuzzer
#   KILN_FUZZ_SECONDS=600 tests/fuzz/run_fuzz.sh
# Env: KILN_FUZZ_SECONDS (per fuzzer, default 60), KILN_FUZZ_BUILD (build folder, default build-fuzz), KILN_CLI (a kiln
#      binary for the engine seeds; default: build one in the fuzz tree),
#      KILN_FUZZ_JOBS (ninja -j, default 2). Exits non-zero if a fuzzer reports a crash, leak, timeout or OOM;
#      the reproducer lands in $KILN_FUZZ_BUILD/artifacts/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${KILN_FUZZ_BUILD:-$ROOT/build-fuzz}"
SECONDS_PER_FUZZER="${KILN_FUZZ_SECONDS:-60}"
JOBS="${KILN_FUZZ_JOBS:-2}"

echo "== configure + build $BUILD"
t0=$(date +%s)
CC=clang CXX=clang++ cmake -S "$ROOT" -B "$BUILD" -G Ninja -DKILN_BUILD_FUZZERS=ON -DKILN_BUILD_TESTS=ON \
  -DKILN_ENABLE_CUDA=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
# The engine seeds come from KILN_CLI (ctest passes the main build's kiln: the engine format does not depend on the
# compiler), so the clang tree builds the library and the two fuzzers only, not the server and the CLI.
if [ -n "${KILN_CLI:-}" ]; then
  ninja -C "$BUILD" -j"$JOBS" fuzz_model_loader fuzz_engine_loader
else
  ninja -C "$BUILD" -j"$JOBS" fuzz_model_loader fuzz_engine_loader kiln_cli
fi
echo "== fuzz build took $(( $(date +%s) - t0 )) s"

KILN="${KILN_CLI:-$BUILD/bin/kiln}"
NODE_DIR="$(python3 -c 'import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), "backend/test/data/node"))')"
CORPUS="$BUILD/corpus"
ART="$BUILD/artifacts"
mkdir -p "$CORPUS/model_seed" "$CORPUS/model" "$CORPUS/engine_seed" "$CORPUS/engine" "$ART"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"

echo "== seed corpus"
# Model loader: every ONNX node test model up to 64 KiB.
n=0
for m in "$NODE_DIR"/*/model.onnx; do
  [ "$(stat -c %s "$m")" -le 65536 ] || continue
  cp "$m" "$CORPUS/model_seed/$(basename "$(dirname "$m")").onnx"
  n=$((n + 1))
done
echo "$n model seeds"
# Engine loader: engines built from a few node tests (weights, attributes, subgraphs, sequences).
n=0
for t in test_add test_relu test_conv_with_strides_padding test_gemm_default_single_elem_vector_bias test_if \
         test_loop11 test_scan9_sum test_constant test_reshape_negative_dim test_layer_normalization_2d_axis0 \
         test_sequence_insert_at_back test_string_concat test_cast_FLOAT_to_FLOAT16 test_identity_opt \
         test_slice test_gather_0 test_lstm_defaults test_resize_upsample_scales_nearest; do
  [ -f "$NODE_DIR/$t/model.onnx" ] || continue
  if ASAN_OPTIONS=detect_leaks=0 "$KILN" build "$NODE_DIR/$t/model.onnx" -o "$CORPUS/engine_seed/$t.kiln" >/dev/null 2>&1; then
    n=$((n + 1))
  fi
done
echo "$n engine seeds"

status=0
run_one() {
  local name=$1 work=$2 seed=$3
  echo "== $name for ${SECONDS_PER_FUZZER}s"
  local log="$BUILD/$name.log"
  if "$BUILD/bin/$name" "$work" "$seed" -max_total_time="$SECONDS_PER_FUZZER" -timeout=20 -rss_limit_mb=2048 \
       -max_len=65536 -print_final_stats=1 -artifact_prefix="$ART/$name-" >"$log" 2>&1; then
    grep -E "^Done|stat::number_of_executed_units|stat::new_units_added" "$log" || true
  else
    echo "!! $name FAILED (log: $log, artifacts: $ART)"
    grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -20 || true
    status=1
  fi
}
run_one fuzz_model_loader "$CORPUS/model" "$CORPUS/model_seed"
run_one fuzz_engine_loader "$CORPUS/engine" "$CORPUS/engine_seed"
exit $status
