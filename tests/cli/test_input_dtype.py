"""kiln build --input-dtype: the engine takes an input in fp16/bf16/uint8 and computes what the model computes on those
values (checked against ONNX Runtime on the float32 model), at fp32 and fp16 precision; bad requests are one-line errors."""
import os
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper


def run(kiln, *args):
    return subprocess.run([kiln, *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """x [N,3,8,8] float32 -> Conv(3->4, 3x3) + bias -> Relu -> GlobalAveragePool -> y [N,4,1,1]; ids int64 -> Identity."""
    rng = np.random.RandomState(0)
    w = numpy_helper.from_array(rng.randn(4, 3, 3, 3).astype(np.float32) * 0.05, "w")
    b = numpy_helper.from_array(rng.randn(4).astype(np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["y"]),
             helper.make_node("Identity", ["ids"], ["ids_out"])]
    g = helper.make_graph(nodes, "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8]),
                           helper.make_tensor_value_info("ids", TensorProto.INT64, ["N"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 1, 1]),
                           helper.make_tensor_value_info("ids_out", TensorProto.INT64, ["N"])], [w, b])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path_factory.mktemp("input_dtype") / "m.onnx"
    onnx.save(m, str(path))
    return path


def reference(model, x):
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return sess.run(["y"], {"x": x.astype(np.float32), "ids": np.arange(x.shape[0], dtype=np.int64)})[0]


@pytest.mark.parametrize("dtype,precision,tol", [("fp16", "fp32", 1e-5), ("uint8", "fp32", 1e-4),
                                                 ("fp16", "fp16", 2e-2), ("uint8", "fp16", 2e-2)])
def test_retyped_input_matches_onnxruntime(kiln_bin, model, tmp_path, dtype, precision, tol):
    engine = tmp_path / "m.kiln"
    p = run(kiln_bin, "build", model, "-o", engine, "--precision", precision, "--input-dtype", f"x:{dtype}",
            "--shapes", "x:2x3x8x8,ids:2")
    assert p.returncode == 0, p.stderr
    info = run(kiln_bin, "inspect", engine)
    assert info.returncode == 0, info.stderr
    want = {"fp16": "float16", "uint8": "uint8"}[dtype]
    assert f"x: {want}[" in info.stdout, info.stdout
    rng = np.random.RandomState(1)
    x = (rng.randint(0, 256, size=(2, 3, 8, 8)) if dtype == "uint8" else rng.randn(2, 3, 8, 8))
    x = x.astype(np.uint8 if dtype == "uint8" else np.float16)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "ids.npy", np.arange(2, dtype=np.int64))
    out = tmp_path / "out"
    r = run(kiln_bin, "run", engine, "--input", f"x={tmp_path / 'x.npy'}", "--input", f"ids={tmp_path / 'ids.npy'}",
            "--output-dir", out, "--output-format", "npy")
    assert r.returncode == 0, r.stderr
    y = np.load(out / "y.npy").astype(np.float32)
    ref = reference(model, x)  # the float32 model on the same values
    rel = np.linalg.norm(y - ref) / np.linalg.norm(ref)
    assert rel < tol, f"relative L2 {rel}"


def test_fp16_input_folds_the_precision_cast(kiln_bin, model, tmp_path):
    """At fp16 precision the engine's own fp32->fp16 input Cast disappears: no Cast reads the retyped input. (On a
    backend that lowers precision as tensor dtypes: the reference here, CUDA on a GPU; the CPU backend keeps float32
    tensors.)"""
    p = run(kiln_bin, "build", model, "-o", tmp_path / "m.kiln", "--backend", "reference", "--precision", "fp16",
            "--input-dtype", "x:fp16",
            "--shapes", "x:2x3x8x8,ids:2", "--dump-ir", "after:input_dtype")
    assert p.returncode == 0, p.stderr
    ir = p.stderr.splitlines()
    assert any(ln.startswith("graph g(x: float16[2,3,8,8]") for ln in ir), p.stderr
    assert any("FusedConv(x," in ln for ln in ir), p.stderr  # the convolution reads the fp16 input directly
    assert not [ln for ln in ir if "Cast(x)" in ln], p.stderr


@pytest.mark.parametrize("arg,must", [("ids:fp16", ["ids", "int64", "floating-point"]),
                                      ("nope:fp16", ["no input 'nope'", "x"]),
                                      ("x:int32", ["int32", "fp16"]),
                                      ("x", ["NAME:TYPE"])])
def test_bad_input_dtype_is_one_line_error(kiln_bin, model, tmp_path, arg, must):
    p = run(kiln_bin, "build", model, "-o", tmp_path / "m.kiln", "--input-dtype", arg)
    assert p.returncode != 0
    lines = [ln for ln in p.stderr.strip().splitlines() if ln]
    assert len(lines) == 1, p.stderr
    for m in must:
        assert m in lines[0], lines[0]
    assert not os.path.exists(tmp_path / "m.kiln")
