"""Writes single-op ONNX models of the region kernels at the sizes real models give them, for bench/cpu_any_model.py:
lrn.onnx (GoogLeNet's first LRN: [1,64,56,56], size 5, beta 0.75), roi_align.onnx (a Faster/Mask R-CNN box head: 200
regions of a [1,256,50,68] feature map to 7x7, sampling 2, scale 1/4) and nms.onnx (8000 boxes, 80 classes, 100 per
class, IoU 0.5, score 0.05; scores are the input).

    python3 bench/cpu_region_models.py DIR && python3 bench/cpu_any_model.py --threads 1,2 DIR/*.onnx
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def save(nodes, name, inputs, outputs, inits, opset, out_dir):
    g = helper.make_graph(nodes, name, inputs, outputs, inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]), os.path.join(out_dir, name + ".onnx"))


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.RandomState(0)
    f = TensorProto.FLOAT
    save([helper.make_node("LRN", ["x"], ["y"], size=5, alpha=1e-4, beta=0.75, bias=1.0)], "lrn",
         [helper.make_tensor_value_info("x", f, [1, 64, 56, 56])], [helper.make_tensor_value_info("y", f, None)], [],
         13, out_dir)
    corners = rng.rand(200, 2).astype(np.float32) * 200
    sizes = 8 + rng.rand(200, 2).astype(np.float32) * 60
    rois = np.concatenate([corners, corners + sizes], 1)  # (x1, y1, x2, y2) in input pixels
    save([helper.make_node("RoiAlign", ["x", "rois", "batch"], ["y"], output_height=7, output_width=7,
                           sampling_ratio=2, spatial_scale=0.25)], "roi_align",
         [helper.make_tensor_value_info("x", f, [1, 256, 50, 68])], [helper.make_tensor_value_info("y", f, None)],
         [numpy_helper.from_array(rois, "rois"), numpy_helper.from_array(np.zeros(200, np.int64), "batch")], 16, out_dir)
    lo = rng.rand(1, 8000, 2).astype(np.float32)
    boxes = np.concatenate([lo, lo + rng.rand(1, 8000, 2).astype(np.float32) * 0.2], 2)
    save([helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_out", "iou", "score"], ["selected"])], "nms",
         [helper.make_tensor_value_info("scores", f, [1, 80, 8000])],
         [helper.make_tensor_value_info("selected", TensorProto.INT64, None)],
         [numpy_helper.from_array(boxes, "boxes"), numpy_helper.from_array(np.array([100], np.int64), "max_out"),
          numpy_helper.from_array(np.array([0.5], np.float32), "iou"),
          numpy_helper.from_array(np.array([0.05], np.float32), "score")], 11, out_dir)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
