"""Exporter forms the INT8 path must take like any model (issue 16; found on pip-shipped OCR models, docs/int8.md):
weights held in Constant nodes (paddle2onnx) are quantized like initializers, and a graph input declared with -1
for a dynamic dimension builds (ONNX Runtime reads -1 as dynamic)."""
import os
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def _conv_model(weights_as_constants, batch_dim):
    rng = np.random.default_rng(0)
    w1 = (0.2 * rng.standard_normal((8, 3, 3, 3))).astype(np.float32)
    w2 = (0.2 * rng.standard_normal((4, 8, 1, 1))).astype(np.float32)
    b1 = (0.1 * rng.standard_normal(8)).astype(np.float32)
    tensors = {"w1": w1, "w2": w2, "b1": b1}
    nodes, inits = [], []
    for name, value in tensors.items():
        if weights_as_constants:
            nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name)))
        else:
            inits.append(numpy_helper.from_array(value, name))
    nodes += [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
              helper.make_node("Relu", ["c1"], ["r1"]),
              helper.make_node("Conv", ["r1", "w2"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch_dim, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch_dim, 4, 8, 8])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _samples(folder, n=6):
    rng = np.random.default_rng(1)
    for i in range(n):
        os.makedirs(os.path.join(folder, f"s{i}"), exist_ok=True)
        np.save(os.path.join(folder, f"s{i}", "x.npy"), rng.standard_normal((1, 3, 8, 8)).astype(np.float32))


def _run(kiln, *args):
    return subprocess.run([kiln, *map(str, args)], capture_output=True, text=True, timeout=120)


def test_constant_node_weights_are_quantized(kiln, tmp_path):
    model = tmp_path / "m.onnx"
    onnx.save(_conv_model(True, 1), model)
    _samples(tmp_path / "calib")
    qdq = tmp_path / "q.onnx"
    r = _run(kiln, "build", model, "-o", tmp_path / "m8.kiln", "--precision", "int8", "--calib", tmp_path / "calib",
             "--export-qdq", qdq)
    assert r.returncode == 0, r.stderr
    ops = [n.op_type for n in onnx.load(str(qdq)).graph.node]
    assert ops.count("DequantizeLinear") >= 4, ops  # both weights and both activations quantized
    x = np.random.default_rng(5).standard_normal((1, 3, 8, 8)).astype(np.float32)
    ref = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = ort.InferenceSession(str(qdq), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    cos = float(ref.ravel() @ got.ravel() / (np.linalg.norm(ref) * np.linalg.norm(got)))
    assert cos > 0.99, cos


def test_negative_dynamic_dimension_builds_and_runs(kiln, tmp_path):
    model = tmp_path / "neg.onnx"
    onnx.save(_conv_model(False, -1), model)
    engine = tmp_path / "neg.kiln"
    r = _run(kiln, "build", model, "-o", engine, "--device", "cpu")
    assert r.returncode == 0, r.stderr
    x = np.random.default_rng(2).standard_normal((3, 3, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = _run(kiln, "run", engine, "--input", f"x={tmp_path / 'x.npy'}", "--output-dir", tmp_path / "out", "--output-format", "npy")
    assert r.returncode == 0, r.stderr
    ref = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = np.load(tmp_path / "out" / "y.npy")
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def _opset11_model(opset):
    """Conv -> Split (split attr) -> ReduceSum (axes attr) / Softmax over axis 1 of a 4-D tensor (opset < 13 flattens
    to 2-D there) -> Unsqueeze/Squeeze (axes attrs) -> MatMul: every op whose form changed at opset 13."""
    rng = np.random.default_rng(3)
    w = numpy_helper.from_array((0.3 * rng.standard_normal((6, 3, 3, 3))).astype(np.float32), "w")
    m = numpy_helper.from_array((0.3 * rng.standard_normal((8, 5))).astype(np.float32), "m")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Split", ["c"], ["s1", "s2"], axis=1, split=[2, 4]),
        helper.make_node("Softmax", ["s2"], ["p"], axis=1),           # old meaning: over dims 1.. flattened
        helper.make_node("ReduceSum", ["p"], ["rs"], axes=[1], keepdims=0),
        helper.make_node("Unsqueeze", ["rs"], ["u"], axes=[1]),
        helper.make_node("Mul", ["u", "s1"], ["v"]),
        helper.make_node("ReduceSum", ["v"], ["r2"], axes=[1, 2], keepdims=1),
        helper.make_node("Squeeze", ["r2"], ["q"], axes=[1, 2]),
        helper.make_node("MatMul", ["q", "m"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], [w, m])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    return model


def test_opset11_and_12_models_are_upgraded_for_qdq(kiln, tmp_path):
    _samples(tmp_path / "calib")
    x = np.random.default_rng(7).standard_normal((1, 3, 8, 8)).astype(np.float32)
    for opset in (11, 12):
        model = tmp_path / f"m{opset}.onnx"
        onnx.save(_opset11_model(opset), model)
        qdq = tmp_path / f"q{opset}.onnx"
        r = _run(kiln, "build", model, "-o", tmp_path / f"m{opset}.kiln", "--precision", "int8", "--calib",
                 tmp_path / "calib", "--export-qdq", qdq)
        assert r.returncode == 0, r.stderr
        q = onnx.load(str(qdq))
        assert [o.version for o in q.opset_import if o.domain in ("", "ai.onnx")] == [13]
        onnx.checker.check_model(q)
        ref = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        got = ort.InferenceSession(str(qdq), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        cos = float(ref.ravel() @ got.ravel() / (np.linalg.norm(ref) * np.linalg.norm(got)))
        assert cos > 0.99, (opset, cos)
        np.save(tmp_path / "x.npy", x)
        out = tmp_path / f"out{opset}"
        r = _run(kiln, "run", tmp_path / f"m{opset}.kiln", "--input", f"x={tmp_path / 'x.npy'}", "--output-dir", out,
                 "--output-format", "npy")
        assert r.returncode == 0, r.stderr
        kiln_y = np.load(out / "y.npy")
        cos = float(ref.ravel() @ kiln_y.ravel() / (np.linalg.norm(ref) * np.linalg.norm(kiln_y)))
        assert cos > 0.99, (opset, cos)


def test_opset10_model_is_refused_with_the_conversion_hint(kiln, tmp_path):
    _samples(tmp_path / "calib")
    model = tmp_path / "m10.onnx"
    m = _opset11_model(11)
    m.opset_import[0].version = 10
    onnx.save(m, model)
    r = _run(kiln, "build", model, "-o", tmp_path / "m10.kiln", "--precision", "int8", "--calib", tmp_path / "calib")
    assert r.returncode != 0 and "convert_version" in r.stderr, r.stderr
