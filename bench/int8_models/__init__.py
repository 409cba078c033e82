# Pretrained ONNX models from pip wheels for bench/int8_accuracy.py: name -> Case class (bench/int8_models/case.py).
from .case_minilm import MiniLM
from .case_nudenet import NudeNet
from .case_ocr import OcrV4Det, OcrV4Rec, OcrV6Det, OcrV6Rec
from .case_orientation import Orientation
from .case_silero import SileroVad

CASES = {c.name: c for c in (Orientation, NudeNet, OcrV6Det, OcrV6Rec, OcrV4Det, OcrV4Rec, MiniLM, SileroVad)}
