"""A DETR-style detector in plain PyTorch: ResNet-50 features, nn.Transformer encoder-decoder, box and class heads.

Exercises nn.MultiheadAttention as exported (self-attention over H/32 x W/32 tokens, cross-attention from object
queries to them). Random weights; the sine position encoding is fixed for the image size given at construction.
"""
import math

import torch
import torchvision
from torch import nn


def sine_positions(h, w, dim):
    """[1, h*w, dim] 2-D sine/cosine position encoding (half the channels for y, half for x)."""
    quarter = dim // 4
    freq = torch.exp(torch.arange(quarter, dtype=torch.float32) * (-math.log(10000.0) / quarter))
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    parts = []
    for coord in (ys, xs):
        angles = coord.reshape(-1, 1) * freq[None, :]
        parts += [angles.sin(), angles.cos()]
    return torch.cat(parts, dim=1)[None]


class DetrStyle(nn.Module):
    """[B, 3, S, S] -> (class logits [B, Q, classes + 1], boxes [B, Q, 4] as sigmoid cxcywh)."""

    def __init__(self, image=640, dim=256, heads=8, layers=6, queries=100, classes=91):
        super().__init__()
        r = torchvision.models.resnet50(weights=None)
        self.body = nn.Sequential(*list(r.children())[:-2])
        self.proj = nn.Conv2d(2048, dim, 1)
        self.register_buffer("pos", sine_positions(image // 32, image // 32, dim), persistent=False)
        self.queries = nn.Parameter(torch.randn(queries, dim) * 0.1)
        self.transformer = nn.Transformer(dim, heads, layers, layers, dim_feedforward=2048, dropout=0.0,
                                          batch_first=True)
        self.cls = nn.Linear(dim, classes + 1)
        self.box = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, 4))

    def forward(self, images):
        f = self.proj(self.body(images))
        src = f.flatten(2).transpose(1, 2) + self.pos
        tgt = self.queries.unsqueeze(0).expand(images.shape[0], -1, -1)
        hs = self.transformer(src, tgt)
        return self.cls(hs), self.box(hs).sigmoid()


def detr_r50(**kw):
    return DetrStyle(**kw)
