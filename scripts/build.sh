#!/usr/bin/env bash
# Configures and builds Kiln into build/ (Release, ninja, ccache when present). Extra args go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${KILN_JOBS:-$(nproc)}
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
fi
ninja -C build -j"$JOBS"
