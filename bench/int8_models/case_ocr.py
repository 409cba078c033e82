# RapidOCR's text detectors (DBNet) and recognizers (CTC): PP-OCRv6 (rapidocr 3.10) and PP-OCRv4 (rapidocr-onnxruntime
# 1.4.4), run inside the package's own pipeline on scans and typeset pages of real sentences.
import numpy as np

from . import documents, images, sentences
from .case import Case

# PaddleOCR's own detector setting: longest side at most 960. (rapidocr's default scales the shortest side up to 736,
# which makes a 191x384 scan 736x1472 and triples the time on this 2-core machine.)
LIMIT_SIDE, LIMIT_TYPE = 960, "max"


def _pages(which):
    """Real images with and without text, interleaved (scans, typeset pages, photos) so that the guard's evenly spread
    held-back fifth sees every kind; calibration and evaluation use different images and crops."""
    text = sentences.sentences()
    if which == "calib":
        scans = [images.image("page")] + images.crops(images.image("page"), 2, min_frac=0.6, seed=31)
        typeset = documents.documents(text[:40], 5, seed=3)
        photos = [images.image(n) for n in ("astronaut", "coffee", "rocket", "china.jpg")]
    else:
        scans = [images.image("text")] + images.crops(images.image("text"), 2, min_frac=0.6, seed=32)
        typeset = documents.documents(text[40:], 5, seed=4)
        photos = [images.image(n) for n in ("chelsea", "flower.jpg", "camera", "immunohistochemistry")]
    kinds = [typeset, photos, scans]
    return [k[i] for i in range(max(map(len, kinds))) for k in kinds if i < len(k)]


class _PipelineV6:
    """rapidocr 3.10 (PP-OCRv6 small): sessions return the output array."""
    dist, as_list = "rapidocr", False
    det_file, rec_file = "rapidocr/models/PP-OCRv6_det_small.onnx", "rapidocr/models/PP-OCRv6_rec_small.onnx"

    def __init__(self):
        from rapidocr import RapidOCR
        self.ocr = RapidOCR(params={"Det.limit_side_len": LIMIT_SIDE, "Det.limit_type": LIMIT_TYPE,
                                    "Global.use_cls": False, "Global.log_level": "error",
                                    "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                                    "EngineConfig.onnxruntime.inter_op_num_threads": 1})
        self.slots = {"det": (self.ocr._load_det_model(), "session"), "rec": (self.ocr._load_rec_model(), "session")}

    def run(self, bgr):
        """(boxes [4x2 arrays], texts) of one image through det + rec."""
        out = self.ocr(bgr)
        boxes = [] if out.boxes is None else list(out.boxes)
        return boxes, list(out.txts or [])


class _PipelineV4:
    """rapidocr-onnxruntime 1.4.4 (PP-OCRv4): sessions return a list of outputs."""
    dist, as_list = "rapidocr-onnxruntime", True
    det_file = "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"
    rec_file = "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx"

    def __init__(self):
        from rapidocr_onnxruntime import RapidOCR
        self.ocr = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1, det_limit_side_len=LIMIT_SIDE,
                            det_limit_type=LIMIT_TYPE)
        self.slots = {"det": (self.ocr.text_det, "infer"), "rec": (self.ocr.text_rec, "session")}

    def run(self, bgr):
        result, _ = self.ocr(bgr, use_cls=False)
        result = result or []
        return [np.asarray(r[0], np.float32) for r in result], [r[1] for r in result]


class _Recorder:
    """Stands in for a pipeline session: calls it and keeps every input array it was given."""

    def __init__(self, session):
        self.session, self.inputs = session, []

    def __call__(self, x):
        self.inputs.append(x)
        return self.session(x)


class _KilnSession:
    """Stands in for a pipeline session with a Kiln engine runner (input 'x', the model's one output)."""

    def __init__(self, runner, output, as_list):
        self.runner, self.output, self.as_list = runner, output, as_list

    def __call__(self, x):
        out = self.runner({"x": np.ascontiguousarray(x, np.float32)})[self.output]
        return [out] if self.as_list else out


class _OcrCase(Case):
    """One model (stage 'det' or 'rec') of a RapidOCR pipeline; the other stage stays on ONNX Runtime."""
    family = "OCR"
    pipeline = None      # _PipelineV6 | _PipelineV4
    stage = ""           # det | rec
    inputs_from = ("skimage.data page (scan, calib) / text (photo, eval) and crops, pages of the real sentences "
                   "typeset with Pillow, skimage/scikit-learn photos; through the package's own pipeline (rec: its "
                   "line crops, 6 a batch)")

    def model_path(self):
        from .common import package_file
        p = self.pipeline
        return package_file(p.dist, p.det_file if self.stage == "det" else p.rec_file)

    def _swap(self, session):
        obj, attr = self.pipe.slots[self.stage]
        old = getattr(obj, attr)
        setattr(obj, attr, session)
        return obj, attr, old

    def prepare(self):
        self.pipe = self.pipeline()

        def samples(pages):
            obj, attr = self.pipe.slots[self.stage]
            old = getattr(obj, attr)
            recorder = _Recorder(old)
            setattr(obj, attr, recorder)
            try:
                for rgb in pages:
                    self.pipe.run(np.ascontiguousarray(rgb[..., ::-1]))
            finally:
                setattr(obj, attr, old)
            return [{"x": x} for x in recorder.inputs]

        calib = samples(_pages("calib"))
        self.eval_pages = [np.ascontiguousarray(p[..., ::-1]) for p in _pages("eval")]
        return calib, samples(_pages("eval"))

    def pipeline_results(self, runner):
        """The pipeline's (boxes, texts) per evaluation page with this stage on a Kiln engine."""
        obj, attr, old = self._swap(_KilnSession(runner, self.outputs[0], self.pipe.as_list))
        try:
            return [self.pipe.run(page) for page in self.eval_pages]
        finally:
            setattr(obj, attr, old)


class _DetCase(_OcrCase):
    stage = "det"
    budget_why = "a dense text-probability map that the package thresholds at 0.3: cosine of the whole map"
    task_headline = "box_f1"
    task_note = ("F1 of the pipeline's INT8 text boxes vs its FP32 ones (polygon IoU >= 0.5); mean_iou of the "
                 "matched boxes; text_equal: recognized page texts (FP32 recognizer) that stay identical")

    def task_metrics(self, runners, evaluation, fp32_outs, int8_outs):
        from shapely.geometry import Polygon

        from .common import detection_agreement, match_boxes

        def iou(a, b):
            pa, pb = Polygon(a).buffer(0), Polygon(b).buffer(0)
            union = pa.union(pb).area
            return pa.intersection(pb).area / union if union > 0 else 0.0

        ref, test = self.pipeline_results(runners["fp32"]), self.pipeline_results(runners["int8"])
        per_page = [match_boxes([("t", b) for b in t[0]], [("t", b) for b in r[0]], iou) for t, r in zip(test, ref)]
        agree = detection_agreement(per_page)
        return {"box_f1": agree["f1"], "mean_iou": agree["mean_iou"], "fp32_boxes": agree["fp32_boxes"],
                "int8_boxes": agree["int8_boxes"],
                "text_equal": float(np.mean([t[1] == r[1] for t, r in zip(test, ref)]))}


class _RecCase(_OcrCase):
    stage = "rec"
    budget_why = ("CTC greedy decoding takes the argmax of every time step: per-step top-1 agreement is what keeps "
                  "the string")
    task_headline = "string_equal"
    task_note = ("fraction of text lines (the FP32 detector's crops) whose INT8 string equals the FP32 one (a line "
                 "that only one of them keeps above the package's score 0.5 counts as different); char_accuracy: "
                 "1 - edit distance / characters")

    def task_metrics(self, runners, evaluation, fp32_outs, int8_outs):
        ref, test = self.pipeline_results(runners["fp32"]), self.pipeline_results(runners["int8"])
        pairs = []        # (int8 text or None, fp32 text or None) per line; lines are keyed by their (same) box
        for (rb, rt), (tb, tt) in zip(ref, test):
            r = {tuple(np.round(b).astype(int).ravel()): t for b, t in zip(rb, rt)}
            t = {tuple(np.round(b).astype(int).ravel()): x for b, x in zip(tb, tt)}
            pairs += [(t.get(k), r.get(k)) for k in sorted(set(r) | set(t))]
        chars = sum(len(r or t) for t, r in pairs)
        errors = sum(_edit_distance(t or "", r or "") for t, r in pairs)
        both = [(t, r) for t, r in pairs if t is not None and r is not None]
        return {"string_equal": float(np.mean([t == r for t, r in pairs])) if pairs else 1.0,
                "char_accuracy": 1.0 - errors / max(chars, 1), "lines": len(pairs),
                "lines_dropped": len(pairs) - len(both),
                "example_fp32": both[len(both) // 2][1] if both else "",
                "example_int8": both[len(both) // 2][0] if both else ""}


class OcrV6Det(_DetCase):
    name = "ppocrv6_det"
    task = "PP-OCRv6 small text detector (DBNet), text probability map"
    dist = "rapidocr"
    pipeline = _PipelineV6
    budget = "fetch_name_0=cosine:0.995"
    outputs = ("fetch_name_0",)
    headline = ("fetch_name_0", "cosine_min")


class OcrV6Rec(_RecCase):
    name = "ppocrv6_rec"
    task = "PP-OCRv6 small text-line recognizer, CTC over 18710 characters"
    dist = "rapidocr"
    pipeline = _PipelineV6
    budget = "fetch_name_0=top1:0.995"
    outputs = ("fetch_name_0",)
    class_outputs = ("fetch_name_0",)
    headline = ("fetch_name_0", "top1")


class OcrV4Det(_DetCase):
    name = "ppocrv4_det"
    task = "PP-OCRv4 text detector (DBNet), text probability map"
    dist = "rapidocr-onnxruntime"
    pipeline = _PipelineV4
    budget = "sigmoid_0.tmp_0=cosine:0.995"
    outputs = ("sigmoid_0.tmp_0",)
    headline = ("sigmoid_0.tmp_0", "cosine_min")


class OcrV4Rec(_RecCase):
    name = "ppocrv4_rec"
    task = "PP-OCRv4 text-line recognizer (SVTR-LCNet), CTC over 6625 characters"
    dist = "rapidocr-onnxruntime"
    pipeline = _PipelineV4
    budget = "softmax_11.tmp_0=top1:0.995"
    outputs = ("softmax_11.tmp_0",)
    class_outputs = ("softmax_11.tmp_0",)
    headline = ("softmax_11.tmp_0", "top1")


def _edit_distance(a, b):
    """Levenshtein distance of two strings."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
