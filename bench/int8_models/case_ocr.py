# rapidocr-onnxruntime: PP-OCRv4 text detector (DBNet) and recognizer (SVTR-LCNet, CTC) on scans and typeset pages.
import numpy as np

from . import documents, images, sentences
from .case import Case

# PaddleOCR's own detector setting (longest side at most 960; rapidocr's default instead scales the shortest side up
# to 736, which makes a 191x384 scan 736x1472 and triples the time on this 2-core machine).
OCR_KW = {"det_limit_side_len": 960, "det_limit_type": "max"}


def _pages(which):
    """Real images with and without text: calibration and evaluation use different ones."""
    text = sentences.sentences()
    if which == "calib":
        return ([images.image("page")] + documents.documents(text[:40], 5, seed=3)
                + [images.image("astronaut"), images.image("coffee")])
    return [images.image("text")] + documents.documents(text[40:], 5, seed=4) + [images.image("chelsea")]


class _Recorder:
    """Stands in for rapidocr's ONNX Runtime session: runs it and keeps every input it was given."""

    def __init__(self, session):
        self.session = session
        self.inputs = []

    def __call__(self, x):
        self.inputs.append(x)
        return self.session(x)


def _pipeline(threads):
    from rapidocr_onnxruntime import RapidOCR
    return RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1, **OCR_KW)


def _bgr(rgb):
    return np.ascontiguousarray(rgb[..., ::-1])


class OcrDet(Case):
    name = "ppocrv4_det"
    family = "OCR"
    task = "PP-OCRv4 text detector (DBNet), text probability map"
    dist = "rapidocr-onnxruntime"
    suffix = "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"
    inputs_from = ("skimage.data page (scan) / text (photo), pages of real sentences typeset with Pillow, "
                   "photos without text")
    budget = "sigmoid_0.tmp_0=cosine:0.995"
    budget_why = "a dense probability map thresholded at 0.3 by the package: cosine of the whole map"
    outputs = ("sigmoid_0.tmp_0",)
    headline = ("sigmoid_0.tmp_0", "cosine_min")
    task_headline = "box_f1"
    task_note = ("F1 of INT8 text boxes vs FP32 ones after the package's DB post-processing (polygon IoU >= 0.5); "
                 "mean_iou of the matched boxes")

    def prepare(self):
        ocr = _pipeline(1)
        det = ocr.text_det

        def samples(which):
            out, shapes = [], []
            for rgb in _pages(which):
                img, _, _ = ocr.preprocess(_bgr(rgb))
                x = det.get_preprocess(max(img.shape[:2]))(img)   # the package's DetPreProcess: resize /32, 0.5/0.5
                out.append({"x": x})
                shapes.append(img.shape[:2])
            return out, shapes

        calib, _ = samples("calib")
        evaluation, self.shapes = samples("eval")
        self.det = det
        return calib, evaluation

    def boxes(self, out, shape):
        boxes, _ = self.det.postprocess_op(out["sigmoid_0.tmp_0"], shape)
        return [("text", b) for b in self.det.filter_tag_det_res(boxes, shape)]

    def task_metrics(self, runners, evaluation, fp32_outs, int8_outs):
        from shapely.geometry import Polygon

        from .common import detection_agreement, match_boxes

        def iou(a, b):
            pa, pb = Polygon(a).buffer(0), Polygon(b).buffer(0)
            union = pa.union(pb).area
            return pa.intersection(pb).area / union if union > 0 else 0.0

        per_image = [match_boxes(self.boxes(t, s), self.boxes(r, s), iou)
                     for t, r, s in zip(int8_outs, fp32_outs, self.shapes)]
        agree = detection_agreement(per_image)
        return {"box_f1": agree["f1"], "mean_iou": agree["mean_iou"], "fp32_boxes": agree["fp32_boxes"],
                "int8_boxes": agree["int8_boxes"]}


class OcrRec(Case):
    name = "ppocrv4_rec"
    family = "OCR"
    task = "PP-OCRv4 text-line recognizer (SVTR-LCNet), CTC over 6625 characters"
    dist = "rapidocr-onnxruntime"
    suffix = "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx"
    inputs_from = ("text-line crops that the package's FP32 detector finds in skimage page/text and in pages of real "
                   "sentences typeset with Pillow, batched 6 per run as the package does")
    budget = "softmax_11.tmp_0=top1:0.995"
    budget_why = ("CTC greedy decoding takes the argmax of every time step: top-1 agreement per step is what keeps "
                  "the string")
    outputs = ("softmax_11.tmp_0",)
    class_outputs = ("softmax_11.tmp_0",)
    headline = ("softmax_11.tmp_0", "top1")
    task_headline = "string_equal"
    task_note = ("fraction of text lines whose decoded INT8 string equals the FP32 one; char_accuracy: 1 - edit "
                 "distance / length")

    def prepare(self):
        ocr = _pipeline(1)
        rec = ocr.text_rec

        def samples(which):
            recorder = _Recorder(rec.session)
            rec.session = recorder
            try:
                for rgb in _pages(which):
                    img, _, _ = ocr.preprocess(_bgr(rgb))
                    boxes, _ = ocr.auto_text_det(img)
                    if boxes is not None:
                        rec(ocr.get_crop_img_list(img, boxes))   # the package's crops, sorting and batching
            finally:
                rec.session = recorder.session
            return [{"x": x} for x in recorder.inputs]

        calib = samples("calib")
        evaluation = samples("eval")
        self.decode = rec.postprocess_op
        return calib, evaluation

    def strings(self, out):
        return [text for text, _score in self.decode(out["softmax_11.tmp_0"])]

    def task_metrics(self, runners, evaluation, fp32_outs, int8_outs):
        ref = [s for o in fp32_outs for s in self.strings(o)]
        test = [s for o in int8_outs for s in self.strings(o)]
        equal = float(np.mean([a == b for a, b in zip(test, ref)]))
        chars = sum(len(r) for r in ref)
        errors = sum(_edit_distance(a, b) for a, b in zip(test, ref))
        return {"string_equal": equal, "char_accuracy": 1.0 - errors / max(chars, 1), "lines": len(ref),
                "example_fp32": ref[len(ref) // 2] if ref else "", "example_int8": test[len(test) // 2] if test else ""}


def _edit_distance(a, b):
    """Levenshtein distance of two strings."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
