"""Exports torchvision detectors with their post-processing (RoiAlign, batched NMS inside an If, TopK, GatherND) for
bench/cpu_any_model.py: frcnn_mbv3_320.onnx (fasterrcnn_mobilenet_v3_large_320_fpn with box_score_thresh 0, so random
weights still yield 100 detections) and ssdlite320.onnx (ssdlite320_mobilenet_v3_large). Random weights, opset 17,
legacy exporter, input `image` [3, 320, 320].

    python3 bench/cpu_detection_models.py DIR && python3 bench/cpu_any_model.py --threads 1,2 DIR/*.onnx
"""
import os
import sys
import warnings

import torch
import torchvision


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    det = torchvision.models.detection
    models = {
        "frcnn_mbv3_320": det.fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None,
                                                                    num_classes=91, box_score_thresh=0.0),
        "ssdlite320": det.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=91),
    }
    x = torch.rand(3, 320, 320)
    for name, m in models.items():
        m.eval()
        with torch.no_grad():
            torch.onnx.export(m, ([x],), os.path.join(out_dir, name + ".onnx"), opset_version=17,
                              input_names=["image"], dynamo=False)
        print("wrote", os.path.join(out_dir, name + ".onnx"))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
