"""Exports torchvision detectors with their post-processing (RoiAlign, batched NMS inside an If, TopK, GatherND) for
bench/cpu_any_model.py: frcnn_mbv3_320.onnx (fasterrcnn_mobilenet_v3_large_320_fpn with box_score_thresh 0, so random
weights still yield 100 detections) and ssdlite320.onnx (ssdlite320_mobilenet_v3_large) by default; --more adds
retinanet_r50_320, fcos_r50_320, maskrcnn_r50_320 and keypointrcnn_r50_320 (ResNet-50 FPN backbones at 320x320, score
thresholds 0). Random weights, opset 17, legacy exporter, input `image` [3, 320, 320].

    python3 bench/cpu_detection_models.py DIR [--more] && python3 bench/cpu_any_model.py --threads 1,2 DIR/*.onnx
"""
import os
import sys
import warnings

import torch
import torchvision


def main(out_dir, more):
    os.makedirs(out_dir, exist_ok=True)
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    det = torchvision.models.detection
    models = {
        "frcnn_mbv3_320": det.fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None,
                                                                    num_classes=91, box_score_thresh=0.0),
        "ssdlite320": det.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=91),
    }
    if more:
        small = dict(weights=None, weights_backbone=None, min_size=320, max_size=320)
        models["retinanet_r50_320"] = det.retinanet_resnet50_fpn(num_classes=91, score_thresh=0.0, **small)
        models["fcos_r50_320"] = det.fcos_resnet50_fpn(num_classes=91, score_thresh=0.0, **small)
        models["maskrcnn_r50_320"] = det.maskrcnn_resnet50_fpn(num_classes=91, box_score_thresh=0.0, **small)
        models["keypointrcnn_r50_320"] = det.keypointrcnn_resnet50_fpn(num_classes=2, box_score_thresh=0.0, **small)
    x = torch.rand(3, 320, 320)
    for name, m in models.items():
        m.eval()
        with torch.no_grad():
            torch.onnx.export(m, ([x],), os.path.join(out_dir, name + ".onnx"), opset_version=17,
                              input_names=["image"], dynamo=False)
        print("wrote", os.path.join(out_dir, name + ".onnx"))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--more"]
    if len(args) != 1:
        sys.exit(__doc__)
    main(args[0], "--more" in sys.argv[1:])
