"""A YOLO-style anchor-free detector in plain PyTorch (C2f backbone, SPPF, PAN neck, decoupled heads, DFL decoding).

Conv+BatchNorm+SiLU blocks, split/concat cross-stage blocks, chained 5x5 max pools, nearest upsampling, and box
decoding in the graph (softmax over distance bins, anchor points and strides as constants), as exported
detectors of this family ship. Random weights; the anchor grid is fixed for the image size given at construction.
"""
import torch
from torch import nn


class Conv(nn.Sequential):
    """Conv2d (no bias) + BatchNorm + SiLU."""

    def __init__(self, cin, cout, k=1, s=1):
        super().__init__(nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout), nn.SiLU())


class Bottleneck(nn.Module):
    def __init__(self, c, shortcut):
        super().__init__()
        self.a, self.b, self.add = Conv(c, c, 3), Conv(c, c, 3), shortcut

    def forward(self, x):
        y = self.b(self.a(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """1x1 conv, split in two, n bottlenecks chained on the second half, every intermediate concatenated, 1x1."""

    def __init__(self, cin, cout, n, shortcut):
        super().__init__()
        self.c = cout // 2
        self.cv1, self.cv2 = Conv(cin, 2 * self.c), Conv((2 + n) * self.c, cout)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        h = cin // 2
        self.cv1, self.cv2, self.pool = Conv(cin, h), Conv(4 * h, cout), nn.MaxPool2d(5, 1, 2)

    def forward(self, x):
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.pool(y[-1]))
        return self.cv2(torch.cat(y, 1))


class Detect(nn.Module):
    """Per level: box branch (4 x `bins` distance logits) and class branch; decoded to [B, 4 + classes, anchors]
    (box centre x, y, width, height in pixels; class probabilities)."""

    def __init__(self, channels, strides, image, classes=80, bins=16):
        super().__init__()
        self.classes, self.bins = classes, bins
        c2, c3 = max(16, channels[0] // 4, 4 * bins), max(channels[0], min(classes, 100))
        self.box = nn.ModuleList(nn.Sequential(Conv(c, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * bins, 1))
                                 for c in channels)
        self.cls = nn.ModuleList(nn.Sequential(Conv(c, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, classes, 1))
                                 for c in channels)
        self.dfl = nn.Conv2d(bins, 1, 1, bias=False)
        self.dfl.weight.data[:] = torch.arange(bins, dtype=torch.float32).view(1, bins, 1, 1)
        self.dfl.weight.requires_grad_(False)
        points, scale = [], []
        for s in strides:
            n = image // s
            ys, xs = torch.meshgrid(torch.arange(n) + 0.5, torch.arange(n) + 0.5, indexing="ij")
            points.append(torch.stack([xs.reshape(-1), ys.reshape(-1)]))
            scale.append(torch.full((1, n * n), float(s)))
        self.register_buffer("anchors", torch.cat(points, 1)[None], persistent=False)  # [1, 2, A]
        self.register_buffer("strides", torch.cat(scale, 1)[None], persistent=False)  # [1, 1, A]

    def forward(self, feats):
        b = feats[0].shape[0]
        x = torch.cat([torch.cat([bx(f), cl(f)], 1).flatten(2) for f, bx, cl in zip(feats, self.box, self.cls)], 2)
        box, cls = x.split([4 * self.bins, self.classes], 1)
        a = box.shape[-1]
        dist = self.dfl(box.view(b, 4, self.bins, a).transpose(2, 1).softmax(1)).view(b, 4, a)
        lt, rb = dist.chunk(2, 1)
        x1y1, x2y2 = self.anchors - lt, self.anchors + rb
        boxes = torch.cat([(x1y1 + x2y2) / 2, x2y2 - x1y1], 1) * self.strides
        return torch.cat([boxes, cls.sigmoid()], 1)


class YoloStyle(nn.Module):
    """[B, 3, S, S] -> [B, 4 + 80, anchors] (8400 anchors at S = 640). Width/depth of the "s" size."""

    def __init__(self, image=640, w=(32, 64, 128, 256, 512), n=(1, 2, 2, 1)):
        super().__init__()
        self.stem = nn.Sequential(Conv(3, w[0], 3, 2), Conv(w[0], w[1], 3, 2), C2f(w[1], w[1], n[0], True))
        self.p3 = nn.Sequential(Conv(w[1], w[2], 3, 2), C2f(w[2], w[2], n[1], True))
        self.p4 = nn.Sequential(Conv(w[2], w[3], 3, 2), C2f(w[3], w[3], n[2], True))
        self.p5 = nn.Sequential(Conv(w[3], w[4], 3, 2), C2f(w[4], w[4], n[3], True), SPPF(w[4], w[4]))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.top4, self.top3 = C2f(w[4] + w[3], w[3], 1, False), C2f(w[3] + w[2], w[2], 1, False)
        self.down3, self.out4 = Conv(w[2], w[2], 3, 2), C2f(w[2] + w[3], w[3], 1, False)
        self.down4, self.out5 = Conv(w[3], w[3], 3, 2), C2f(w[3] + w[4], w[4], 1, False)
        self.detect = Detect((w[2], w[3], w[4]), (8, 16, 32), image)

    def forward(self, images):
        p3 = self.p3(self.stem(images))
        p4 = self.p4(p3)
        p5 = self.p5(p4)
        t4 = self.top4(torch.cat([self.up(p5), p4], 1))
        o3 = self.top3(torch.cat([self.up(t4), p3], 1))
        o4 = self.out4(torch.cat([self.down3(o3), t4], 1))
        o5 = self.out5(torch.cat([self.down4(o4), p5], 1))
        return self.detect([o3, o4, o5])


def yolo_style_s(**kw):
    return YoloStyle(**kw)
