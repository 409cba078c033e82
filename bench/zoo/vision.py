"""torchvision builders for the zoo (random weights, nothing downloaded): classifiers, RetinaNet heads, DeepLabV3.

Each builder returns an FP32 nn.Module whose forward takes the registry's inputs positionally and returns a tensor
or a tuple of tensors (the registry's outputs, in order).
"""
import torch
import torchvision


def classifier(arch, **_):
    """torchvision.models.<arch>(weights=None): [B, 3, H, W] -> logits [B, 1000]."""
    return getattr(torchvision.models, arch)(weights=None)


class RetinaNetHeads(torch.nn.Module):
    """RetinaNet without anchors and NMS: ResNet-50 + FPN (P3-P7) + classification and box heads, the dense part a
    deployment runs on the accelerator. Returns (cls_logits [B, A, 91], bbox_regression [B, A, 4])."""

    def __init__(self):
        super().__init__()
        m = torchvision.models.detection.retinanet_resnet50_fpn(weights=None, weights_backbone=None)
        self.backbone, self.head = m.backbone, m.head

    def forward(self, x):
        out = self.head(list(self.backbone(x).values()))
        return out["cls_logits"], out["bbox_regression"]


def retinanet_head(**_):
    return RetinaNetHeads()


class SegmentationOut(torch.nn.Module):
    """A torchvision segmentation model returning only its "out" map."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


def deeplabv3(**_):
    """DeepLabV3-ResNet-50 (21 classes, no auxiliary head): [B, 3, H, W] -> [B, 21, H, W]."""
    return SegmentationOut(torchvision.models.segmentation.deeplabv3_resnet50(
        weights=None, weights_backbone=None, num_classes=21, aux_loss=False))
