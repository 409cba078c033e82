"""Small benchmark architectures written in plain PyTorch (YOLO-style detector, LSTM/GRU/1-D conv audio nets, MLP heads).

Each class is a torch.nn.Module with random weights; bench/cpu_models/zoo.py lists them with their input shapes.
"""
import torch
from torch import nn


class ConvBnSiLU(nn.Sequential):
    """Conv2d (no bias) + BatchNorm + SiLU, the YOLO building block."""

    def __init__(self, cin, cout, k=1, s=1):
        super().__init__(nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout), nn.SiLU())


class Bottleneck(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a, self.b = ConvBnSiLU(c, c, 1), ConvBnSiLU(c, c, 3)

    def forward(self, x):
        return x + self.b(self.a(x))


class CSP(nn.Module):
    """Cross-stage-partial block: two 1x1 branches, n bottlenecks on one, concat, 1x1 fuse."""

    def __init__(self, cin, cout, n=1):
        super().__init__()
        h = cout // 2
        self.a, self.b = ConvBnSiLU(cin, h), ConvBnSiLU(cin, h)
        self.m = nn.Sequential(*[Bottleneck(h) for _ in range(n)])
        self.out = ConvBnSiLU(2 * h, cout)

    def forward(self, x):
        return self.out(torch.cat([self.m(self.a(x)), self.b(x)], 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling (fast): three chained 5x5 max pools, concat, 1x1."""

    def __init__(self, c):
        super().__init__()
        self.a, self.out = ConvBnSiLU(c, c // 2), ConvBnSiLU(2 * c, c)
        self.pool = nn.MaxPool2d(5, 1, 2)

    def forward(self, x):
        x = self.a(x)
        y1 = self.pool(x)
        y2 = self.pool(y1)
        return self.out(torch.cat([x, y1, y2, self.pool(y2)], 1))


class YoloStyle(nn.Module):
    """CSP backbone, SPPF, FPN/PAN neck with nearest upsample + concat, 3 detection heads -> [B, boxes, 5+nc]."""

    def __init__(self, nc=80, na=3):
        super().__init__()
        self.no, self.na = nc + 5, na
        self.stem = nn.Sequential(ConvBnSiLU(3, 16, 3, 2), ConvBnSiLU(16, 32, 3, 2), CSP(32, 32))
        self.p3 = nn.Sequential(ConvBnSiLU(32, 64, 3, 2), CSP(64, 64, 2))
        self.p4 = nn.Sequential(ConvBnSiLU(64, 128, 3, 2), CSP(128, 128, 2))
        self.p5 = nn.Sequential(ConvBnSiLU(128, 256, 3, 2), CSP(256, 256), SPPF(256))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.lat5, self.td4 = ConvBnSiLU(256, 128), CSP(256, 128)
        self.lat4, self.td3 = ConvBnSiLU(128, 64), CSP(128, 64)
        self.dn3, self.bu4 = ConvBnSiLU(64, 64, 3, 2), CSP(128, 128)
        self.dn4, self.bu5 = ConvBnSiLU(128, 128, 3, 2), CSP(256, 256)
        self.heads = nn.ModuleList(nn.Conv2d(c, self.no * na, 1) for c in (64, 128, 256))

    def forward(self, x):
        p3 = self.p3(self.stem(x))
        p4 = self.p4(p3)
        p5 = self.p5(p4)
        l5 = self.lat5(p5)
        t4 = self.td4(torch.cat([self.up(l5), p4], 1))
        l4 = self.lat4(t4)
        o3 = self.td3(torch.cat([self.up(l4), p3], 1))
        o4 = self.bu4(torch.cat([self.dn3(o3), l4], 1))
        o5 = self.bu5(torch.cat([self.dn4(o4), l5], 1))
        outs = []
        for head, f in zip(self.heads, (o3, o4, o5)):
            y = head(f)
            b = y.shape[0]
            outs.append(y.reshape(b, self.na, self.no, -1).permute(0, 1, 3, 2).reshape(b, -1, self.no))
        return torch.cat(outs, 1).sigmoid()


class LstmTagger(nn.Module):
    """Streaming-ASR-like acoustic model: 2-layer LSTM over mel frames + per-frame classifier."""

    def __init__(self, feat=80, hidden=256, classes=40):
        super().__init__()
        self.rnn = nn.LSTM(feat, hidden, num_layers=2, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y).log_softmax(-1)


class GruVad(nn.Module):
    """Voice-activity-like model: 1x1 projection, bidirectional GRU, per-frame sigmoid."""

    def __init__(self, feat=64, hidden=128):
        super().__init__()
        self.proj = nn.Linear(feat, hidden)
        self.rnn = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * hidden, 1)

    def forward(self, x):
        y, _ = self.rnn(torch.relu(self.proj(x)))
        return torch.sigmoid(self.fc(y))


class Conv1dKws(nn.Module):
    """Keyword-spotting TDNN: dilated Conv1d + BN + ReLU, depthwise-separable blocks, global pool, linear."""

    def __init__(self, feat=40, c=128, classes=12):
        super().__init__()
        layers = [nn.Conv1d(feat, c, 5, padding=2), nn.BatchNorm1d(c), nn.ReLU()]
        for d in (1, 2, 4, 8):
            layers += [nn.Conv1d(c, c, 3, padding=d, dilation=d, groups=c), nn.Conv1d(c, c, 1),
                       nn.BatchNorm1d(c), nn.ReLU()]
        layers += [nn.Conv1d(c, 2 * c, 3, stride=2, padding=1), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(2 * c, classes)

    def forward(self, x):
        return self.fc(self.body(x).mean(-1)).softmax(-1)


class MlpHead(nn.Module):
    """A small classifier head (e.g. wake-word or embedding head): Linear/act stacks, optional LayerNorm."""

    def __init__(self, dims, act="relu", norm=False):
        super().__init__()
        layers = []
        for i in range(len(dims) - 1):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < len(dims) - 2:
                if norm:
                    layers.append(nn.LayerNorm(dims[i + 1]))
                layers.append(nn.GELU() if act == "gelu" else nn.ReLU())
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x).softmax(-1)
