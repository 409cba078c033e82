"""Image stems (stride-2 convolutions on 1-4 channels) through `kiln build` + `kiln run` vs ONNX Runtime.

With `--kiln-device cuda` the layout pass rewrites each stem into its space-to-depth form (docs/optimizer.md,
layout_nhwc): the dumped IR must show the space-to-depth Transpose, and outputs must match ORT for float32 engines
(rtol 1e-4) and float16 engines (rtol/atol 2e-2 of the output's scale). On the CPU the same models simply run.
"""
import os
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

TIMEOUT = 300

# (id, input dims [N,C,H,W], out channels, kernel, pads, batch dim dynamic)
STEMS = [
    ("resnet_7x7_b2", [2, 3, 224, 224], 64, 7, [3, 3, 3, 3], False),
    ("odd_225_b3", [3, 3, 225, 225], 32, 7, [3, 3, 3, 3], True),
    ("k3_pad1_b1", [1, 3, 65, 64], 16, 3, [1, 1, 1, 1], False),
    ("k5_asym_c1", [2, 1, 40, 41], 8, 5, [2, 1, 1, 2], False),
    ("k4_crop_c4", [2, 4, 31, 33], 16, 4, [0, 0, 0, 0], False),
]


def _stem_model(path, dims, m, k, pads, dynamic):
    rng = np.random.default_rng(sum(dims) + m + k)
    c = dims[1]
    w = numpy_helper.from_array((rng.standard_normal((m, c, k, k)) / np.sqrt(c * k * k)).astype(np.float32), "w")
    b = numpy_helper.from_array((rng.standard_normal(m) * 0.1).astype(np.float32), "b")
    w2 = numpy_helper.from_array((rng.standard_normal((8, m, 1, 1)) / np.sqrt(m)).astype(np.float32), "w2")
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[k, k], strides=[2, 2], pads=pads),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["p", "w2"], ["y"], kernel_shape=[1, 1]),
    ]
    x_dims = ["batch", *dims[1:]] if dynamic else dims
    g = helper.make_graph(nodes, "stem", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_dims)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w, b, w2])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def _kiln(kiln, *args):
    p = subprocess.run([kiln, *args], capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, f"kiln {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("stem", STEMS, ids=[s[0] for s in STEMS])
def test_stem_matches_onnxruntime(kiln, kiln_device, stem, precision, tmp_path):
    name, dims, m, k, pads, dynamic = stem
    if precision == "fp16" and kiln_device != "cuda":
        pytest.skip("fp16 engines are GPU engines")
    model = str(tmp_path / f"{name}.onnx")
    _stem_model(model, dims, m, k, pads, dynamic)
    x = np.random.default_rng(7).standard_normal(dims).astype(np.float32)
    want = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.save(tmp_path / "x.npy", x)
    engine = str(tmp_path / f"{name}.kiln")
    # A dynamic batch stays dynamic in the engine (the space-to-depth Reshapes keep it with target 0).
    shapes = [] if dynamic else ["--shapes", "x:" + "x".join(map(str, dims))]
    build = _kiln(kiln, "build", model, "-o", engine, "--device", kiln_device, "--precision", precision, *shapes,
                  "--dump-ir", "after:layout_nhwc" if kiln_device == "cuda" else "after:import")
    if kiln_device == "cuda":
        assert "perm=[0,2,4,3,5,1]" in build.stderr, f"no space-to-depth stem in the IR:\n{build.stderr}"
    out_dir = tmp_path / "out"
    _kiln(kiln, "run", engine, "--device", kiln_device, "--input", f"x={tmp_path / 'x.npy'}", "--output-dir",
          str(out_dir), "--output-format", "npy")
    got = np.load(out_dir / "y.npy")
    assert got.shape == want.shape
    if precision == "fp32":
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    else:
        scale = float(np.abs(want).max())
        np.testing.assert_allclose(got, want, rtol=2e-2, atol=2e-2 * scale)
