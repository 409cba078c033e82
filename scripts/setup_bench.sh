#!/usr/bin/env bash
# Installs what bench/cpu_compare.py and bench/cpu_models/export.py need (PyTorch, torchvision, transformers,
# onnxruntime); idempotent, from PyPI only; not run by CI.
#
# PyPI's Linux torch wheel is the CUDA build: `pip install --no-deps torch` installs, but `import torch` then
# fails (libcufile.so.0 and the other nvidia-* libraries are missing), so the full install is used. It pulls
# ~5 GB of nvidia-* wheels (about 2 minutes here); no GPU is needed or used.
set -euo pipefail
PY=${PYTHON:-python3}

have() { "$PY" - "$@" <<'PYEOF' 2>/dev/null
import importlib, sys
for m in sys.argv[1:]:
    importlib.import_module(m)
PYEOF
}

if have torch torchvision transformers onnx onnxruntime onnxscript numpy; then
    "$PY" -c "import torch; torch.randn(2)" && echo "setup_bench: already installed" && exit 0
fi

df -h "$("$PY" -c 'import site; print(site.getsitepackages()[0])')" | tail -1
# Versions this suite was written and measured with (torch 2.15 still has the TorchScript exporter, dynamo=False).
"$PY" -m pip install --quiet \
    "torch==2.15.0" "torchvision==0.29.2" "transformers>=5,<6" onnxscript \
    "onnx>=1.17" "onnxruntime>=1.20" numpy
"$PY" -c "import torch, torchvision, transformers, onnxruntime; torch.randn(2); \
print('setup_bench: torch', torch.__version__, 'torchvision', torchvision.__version__, \
'transformers', transformers.__version__, 'onnxruntime', onnxruntime.__version__)"
