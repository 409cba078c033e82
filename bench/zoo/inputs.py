"""Deterministic numpy inputs for a zoo model at a batch size (the same arrays feed Kiln as .npy and PyTorch).

No torch here: the driver writes the input files, the workers read them.
"""
import os

import numpy as np


def shape_at(inp, batch):
    return tuple(batch if d == "B" else d for d in inp.shape)


def padding_mask(rng, batch, seq):
    """int64 [batch, seq] right-padded mask: lengths seq/2..seq, the first row full (so the mask path is used)."""
    lengths = rng.integers(seq // 2, seq + 1, size=batch)
    lengths[0] = seq
    return (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int64)


def make_inputs(model, batch, seed):
    """{input name: array} for `model` (registry.Model) at `batch`, from `seed`."""
    rng = np.random.default_rng(seed)
    out = {}
    for inp in model.inputs:
        shape = shape_at(inp, batch)
        if inp.kind in ("image", "wave", "mel"):
            out[inp.name] = rng.standard_normal(shape, dtype=np.float32)
        elif inp.kind.startswith("ids:"):
            out[inp.name] = rng.integers(0, int(inp.kind[4:]), size=shape, dtype=np.int64)
        elif inp.kind == "mask":
            out[inp.name] = padding_mask(rng, shape[0], shape[1])
        else:
            raise ValueError(f"{model.name}: unknown input kind '{inp.kind}'")
    return out


def trace_inputs(model, batch=2):
    """Inputs the exporters trace with: batch 2 (no exporter specializes a batch of 1), and padding in the last
    row of every mask at every batch, so no "mask is all ones" shortcut gets traced."""
    feeds = make_inputs(model, batch, seed=1000 + batch)
    for inp in model.inputs:
        if inp.kind == "mask":
            feeds[inp.name][-1, feeds[inp.name].shape[1] // 2:] = 0
    return feeds


def input_path(workdir, model, batch, name):
    return os.path.join(workdir, f"{model.name}.b{batch}.in.{name}.npy")


def ref_path(workdir, model, batch, index):
    return os.path.join(workdir, f"{model.name}.b{batch}.ref{index}.npy")


def write_inputs(workdir, model, batch):
    """Writes the inputs of (model, batch) as .npy files (seed = batch); returns {name: path}."""
    paths = {}
    for name, arr in make_inputs(model, batch, seed=batch).items():
        paths[name] = input_path(workdir, model, batch, name)
        np.save(paths[name], arr)
    return paths


def load_inputs(workdir, model, batch):
    return {inp.name: np.load(input_path(workdir, model, batch, inp.name)) for inp in model.inputs}
