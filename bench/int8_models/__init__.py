# Pretrained ONNX models from pip wheels for bench/int8_accuracy.py: name -> Case class (bench/int8_models/case.py).
from .case_minilm import MiniLM
from .case_nudenet import NudeNet
from .case_ocr import OcrDet, OcrRec
from .case_orientation import Orientation
from .case_silero import SileroVad

CASES = {c.name: c for c in (Orientation, NudeNet, OcrDet, OcrRec, MiniLM, SileroVad)}
