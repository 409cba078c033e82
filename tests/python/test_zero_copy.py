"""No copies where the memory layout allows: C-contiguous inputs of the right dtype are used in place, outputs are
numpy arrays over Kiln's own output memory; outputs that would alias an input or an engine constant are copied."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
import pytest

import kiln
from kiln import _kiln


def _address(a):
    return a.__array_interface__["data"][0]


def test_contiguous_input_is_not_copied():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert _kiln._input_view("x", x) == _address(x)
    ro = x.copy()
    ro.flags.writeable = False  # read-only arrays are used in place too
    assert _kiln._input_view("x", ro) == _address(ro)


def test_strided_input_is_copied():
    x = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2]
    assert not x.flags.c_contiguous
    assert _kiln._input_view("x", x) != _address(x)


def _model(tmp_path):
    """y = x + 1, same = Identity(x), const = a 4-float initializer."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4]),
            helper.make_tensor_value_info("same", TensorProto.FLOAT, ["n", 4]),
            helper.make_tensor_value_info("const", TensorProto.FLOAT, [4])]
    one = numpy_helper.from_array(np.ones(4, np.float32), "one")
    c = numpy_helper.from_array(np.arange(4, dtype=np.float32), "c")
    nodes = [helper.make_node("Add", ["x", "one"], ["y"]), helper.make_node("Identity", ["x"], ["same"]),
             helper.make_node("Identity", ["c"], ["const"])]
    g = helper.make_graph(nodes, "g", [x], outs, initializer=[one, c])
    path = str(tmp_path / "alias.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_outputs_own_kiln_memory_and_never_alias(tmp_path):
    engine = kiln.build(_model(tmp_path))
    ctx = engine.create_context()
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    out = ctx.run({"x": x})
    np.testing.assert_array_equal(out["y"], x + 1)
    np.testing.assert_array_equal(out["same"], x)
    np.testing.assert_array_equal(out["const"], np.arange(4, dtype=np.float32))
    # y is Kiln's memory handed over (a view owned by a capsule, not a numpy-allocated copy).
    assert not out["y"].flags.owndata and out["y"].base is not None
    assert out["y"].flags.writeable
    # The Identity of an input is not the input's memory, and writing to outputs changes neither input nor engine.
    assert not np.shares_memory(out["same"], x)
    out["same"][:] = 0
    out["const"][:] = -1
    again = ctx.run({"x": x})
    np.testing.assert_array_equal(again["same"], x)
    np.testing.assert_array_equal(again["const"], np.arange(4, dtype=np.float32))


def test_torch_cpu_tensor_in_place():
    torch = pytest.importorskip("torch")
    t = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    assert _kiln._input_view("x", t) == t.data_ptr()


def test_string_inputs_and_outputs(tmp_path):
    x = helper.make_tensor_value_info("s", TensorProto.STRING, ["n"])
    y = helper.make_tensor_value_info("t", TensorProto.STRING, ["n"])
    g = helper.make_graph([helper.make_node("Identity", ["s"], ["t"])], "g", [x], [y])
    path = str(tmp_path / "str.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    out = kiln.build(path).create_context().run({"s": np.array(["a", "bc", "déf"])})
    assert out["t"].dtype == object and list(out["t"]) == ["a", "bc", "déf"]


def test_scalar_empty_and_bool_outputs(tmp_path):
    """Rank-0, zero-element and bool outputs come back as numpy arrays of the right shape and dtype."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])
    outs = [helper.make_tensor_value_info("total", TensorProto.FLOAT, []),
            helper.make_tensor_value_info("none", TensorProto.FLOAT, [0, 4]),
            helper.make_tensor_value_info("positive", TensorProto.BOOL, ["n", 4])]
    starts = numpy_helper.from_array(np.array([0], np.int64), "starts")
    ends = numpy_helper.from_array(np.array([0], np.int64), "ends")
    zero = numpy_helper.from_array(np.array(0, np.float32), "zero")
    nodes = [helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
             helper.make_node("Slice", ["x", "starts", "ends"], ["none"]),
             helper.make_node("Greater", ["x", "zero"], ["positive"])]
    g = helper.make_graph(nodes, "g", [x], outs, initializer=[starts, ends, zero])
    path = str(tmp_path / "shapes.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
    xv = np.random.default_rng(4).standard_normal((3, 4)).astype(np.float32)
    out = kiln.build(path).create_context().run({"x": xv})
    assert out["total"].shape == () and out["total"].dtype == np.float32
    np.testing.assert_allclose(out["total"], xv.sum(), rtol=1e-5)
    assert out["none"].shape == (0, 4) and out["none"].dtype == np.float32
    assert out["positive"].dtype == np.bool_
    np.testing.assert_array_equal(out["positive"], xv > 0)


def test_sequence_output_is_a_list(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    seq = helper.make_tensor_sequence_value_info("parts", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("SequenceConstruct", ["x", "r"], ["parts"])]
    g = helper.make_graph(nodes, "g", [x], [seq])
    path = str(tmp_path / "seq.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    xv = np.random.default_rng(6).standard_normal((2, 3)).astype(np.float32)
    out = kiln.build(path).create_context().run({"x": xv})
    assert isinstance(out["parts"], list) and len(out["parts"]) == 2
    np.testing.assert_array_equal(out["parts"][0], xv)
    np.testing.assert_array_equal(out["parts"][1], np.maximum(xv, 0))
    assert not np.shares_memory(out["parts"][0], xv)
