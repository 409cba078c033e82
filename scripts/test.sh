#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, then runs unit/op tests, the ONNX node
# conformance suite (against tests/conformance/expected_failures.txt), model tests against ONNX Runtime,
# the CLI bad-input tests and a bounded fuzz run of the model and engine loaders (all through ctest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
# ctest runs two test processes at once: one intra-op thread each keeps the CPU backend from oversubscribing the cores
# (tests that exercise several threads set their count themselves).
export KILN_NUM_THREADS=${KILN_NUM_THREADS:-1}
# ctest prints "N% tests passed, N tests failed out of N".
ctest --test-dir build --output-on-failure -j2 --timeout 2400
