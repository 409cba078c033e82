# nudenet: a YOLOv8n-style detector (18 body-part / face classes, 320x320) on real photographs.
import numpy as np

from . import images
from .case import Case
from .common import box_iou, detection_agreement, match_boxes

CALIB_PHOTOS = ["astronaut", "coffee", "rocket", "china.jpg", "immunohistochemistry", "hubble_deep_field", "coins",
                "clock"]
EVAL_PHOTOS = ["camera", "chelsea", "flower.jpg", "moon", "brick", "colorwheel"]


class NudeNet(Case):
    name = "nudenet_320n"
    family = "detector"
    task = "YOLOv8n detector, 18 classes (faces, body parts), 320x320"
    dist = "nudenet"
    suffix = "nudenet/320n.onnx"
    inputs_from = ("skimage/scikit-learn photos (astronaut, camera, coffee, chelsea, china, flower, ...) and crops "
                   "of the two portraits")
    budget = "output0=cosine:0.9999"
    budget_why = ("one raw head tensor holds box coordinates (0-320) and class scores (0-1): the coordinates "
                  "dominate its cosine, so the scores need the tighter 0.9999")
    outputs = ("output0",)
    headline = ("output0", "cosine_min")
    task_headline = "detection_f1"
    task_note = ("F1 of INT8 detections vs FP32 ones after the package's own NMS (same class, IoU >= 0.5); "
                 "mean_iou of the matched boxes")

    def prepare(self):
        # astronaut and camera are the photos with people: their crops (different windows for calib and eval) give
        # the detector faces at several scales; the other photos are realistic negatives.
        calib_imgs = [images.image(n) for n in CALIB_PHOTOS]
        calib_imgs += images.crops(images.image("astronaut"), 8, seed=11)
        calib_imgs += images.crops(images.image("camera"), 6, seed=12)
        eval_imgs = [images.image(n) for n in EVAL_PHOTOS]
        eval_imgs += images.crops(images.image("astronaut"), 8, seed=21)
        eval_imgs += images.crops(images.image("camera"), 6, seed=22)
        calib = [self._sample(img)[0] for img in calib_imgs]
        evaluation, self.meta = [], []
        for img in eval_imgs:
            sample, meta = self._sample(img)
            evaluation.append(sample)
            self.meta.append(meta)
        return calib, evaluation

    @staticmethod
    def _sample(rgb):
        from nudenet.nudenet import _read_image   # the package's own: pad to square, 1/255, resize 320, BGR->RGB
        blob, x_ratio, y_ratio, x_pad, y_pad, w, h = _read_image(np.ascontiguousarray(rgb[..., ::-1]), 320)
        return {"images": blob.astype(np.float32)}, (x_pad, y_pad, x_ratio, y_ratio, w, h)

    def detections(self, out, meta):
        from nudenet.nudenet import _postprocess   # the package's own: score >= 0.2, NMS 0.25/0.45
        x_pad, y_pad, x_ratio, y_ratio, w, h = meta
        dets = _postprocess([out["output0"]], x_pad, y_pad, x_ratio, y_ratio, w, h, 320, 320)
        return [(d["class"], [d["box"][0], d["box"][1], d["box"][0] + d["box"][2], d["box"][1] + d["box"][3]])
                for d in dets]

    def task_metrics(self, runners, evaluation, fp32_outs, int8_outs):
        per_image = [match_boxes(self.detections(t, m), self.detections(r, m), box_iou)
                     for t, r, m in zip(int8_outs, fp32_outs, self.meta)]
        agree = detection_agreement(per_image)
        return {"detection_f1": agree["f1"], "mean_iou": agree["mean_iou"], "fp32_boxes": agree["fp32_boxes"],
                "int8_boxes": agree["int8_boxes"], "matched": agree["matched"]}
