"""Builds a zoo model (seeded random weights) and makes the weights behave like trained ones.

Random initialisation leaves some layers silent or unbounded, which would hide errors or overflow FP16:
zero-initialised weight matrices (ViT's classifier) output nothing, ConvNeXt-style layer scales of 1e-6 switch the
residual branches off, and BatchNorm's init statistics (mean 0, variance 1) let deep residual streams grow past
FP16's range. So: zero weight matrices get N(0, 0.02), tiny constant scales become 0.1, and BatchNorm running
statistics are re-estimated on random inputs (as bench/gpu_compare.py does for ResNet-50; only the BatchNorm
layers are put in training mode, so dropout and stochastic depth stay off).
"""
import importlib

import numpy as np
import torch

from zoo import inputs


def build(model, attn="eager"):
    """The FP32 module of registry.Model `model`, on the CPU, eval mode, weights from seed 0."""
    module_name, fn = model.builder.split(":")
    torch.manual_seed(0)
    kw = dict(model.kwargs)
    if model.hf:
        kw["attn"] = attn
    m = getattr(importlib.import_module(f"zoo.{module_name}"), fn)(**kw)
    return m.eval()


def fix_silent_layers(module):
    """Zero weight matrices -> N(0, 0.02); parameters that are one tiny constant (layer scales) -> 0.1."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.numel() == 0:
                continue
            if p.dim() >= 2 and not torch.any(p):
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
            elif p.numel() > 1 and bool(torch.all(p == p.flatten()[0])) and 0 < abs(float(p.flatten()[0])) < 1e-3:
                p.fill_(0.1)


def reestimate_batchnorm(module, model, batches, images, device="cpu"):
    """Running statistics of every BatchNorm from `batches` forward passes of `images` random inputs (cumulative
    average). Returns the number of BatchNorm layers (0: nothing done)."""
    bns = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns or batches <= 0:
        return 0
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
    module.to(device)
    with torch.no_grad():
        for i in range(batches):
            feeds = inputs.make_inputs(model, images, seed=500 + i)
            module(*[torch.from_numpy(v).to(device) for v in feeds.values()])
    for bn in bns:
        bn.eval()
    module.cpu()
    return len(bns)


def realistic(model, attn="eager", calib=None, device="cpu"):
    """build() + fix_silent_layers() + reestimate_batchnorm(); calib = (batches, images) overrides model.calib."""
    m = build(model, attn)
    fix_silent_layers(m)
    batches, images = calib if calib is not None else model.calib
    reestimate_batchnorm(m, model, batches, images, device)
    return m.eval()


def outputs_as_list(y):
    """A model's output (tensor or tuple of tensors) as a list of float32 numpy arrays."""
    ys = list(y) if isinstance(y, (tuple, list)) else [y]
    return [np.ascontiguousarray(t.detach().float().cpu().numpy()) for t in ys]
