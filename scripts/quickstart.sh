#!/usr/bin/env bash
# The main job on the bundled default models: install, build, then for a small CNN and a transformer block
# `kiln build` -> engine file (the CPU backend), `kiln run` on sample inputs, `kiln bench` with its performance summary;
# last, the bundled models' speed next to ONNX Runtime's (bench/cpu_compare.py, outputs checked).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
KILN=build/bin/kiln
OUT=build/quickstart
mkdir -p "$OUT"
python3 models/make_models.py "$OUT/models" >/dev/null
python3 - "$OUT" <<'PY'
import sys, numpy as np
out = sys.argv[1]
rng = np.random.default_rng(0)
np.save(f"{out}/image.npy", rng.standard_normal((1, 3, 32, 32), dtype=np.float32))
np.save(f"{out}/tokens.npy", rng.standard_normal((1, 16, 64), dtype=np.float32))
np.save(f"{out}/mask.npy", np.zeros((1, 1, 1, 16), dtype=np.float32))
PY
echo "== small CNN =="
$KILN build "$OUT/models/small_cnn.onnx" -o "$OUT/small_cnn.kiln"
$KILN run "$OUT/small_cnn.kiln" --input image="$OUT/image.npy" --output-dir "$OUT/small_cnn_out"
$KILN bench "$OUT/small_cnn.kiln" --batch 8 --duration 2
echo "== transformer block =="
MASK_NAME=$(python3 -c "import onnx,sys; m=onnx.load(sys.argv[1]); print([i.name for i in m.graph.input][1])" "$OUT/models/transformer_block.onnx")
$KILN build "$OUT/models/transformer_block.onnx" -o "$OUT/transformer_block.kiln"
$KILN run "$OUT/transformer_block.kiln" --input tokens="$OUT/tokens.npy" --input "$MASK_NAME=$OUT/mask.npy" \
  --output-dir "$OUT/transformer_out"
$KILN bench "$OUT/transformer_block.kiln" --shapes "tokens:4x16x64,$MASK_NAME:4x1x1x16" --duration 2
echo "== Kiln (CPU backend) vs ONNX Runtime, same inputs, this machine =="
python3 bench/cpu_compare.py --kiln "$KILN" --models bundled --duration 1 --batches 1,tput --threads "1,$(nproc)"
