"""A config.pbtxt that declares an ONNX model's float32 input TYPE_FP16 or TYPE_UINT8 makes the server's engine take
that type (kiln build --input-dtype): clients send 2x / 4x fewer bytes and get the model's results on those values;
an input that cannot be retyped makes the model UNAVAILABLE with a message naming it."""
import json
import os

import numpy as np
import pytest
from onnx import TensorProto, helper

from serve_util import Server, save_model, write


def scale_model(root, name, in_type, width=8):
    """y = x * 0.5 + 1 over FP32 [batch, width]; the config declares x as `in_type`."""
    half = helper.make_tensor("h", TensorProto.FLOAT, [1], [0.5])
    one = helper.make_tensor("o", TensorProto.FLOAT, [1], [1.0])
    g = helper.make_graph([helper.make_node("Mul", ["x", "h"], ["t"]), helper.make_node("Add", ["t", "o"], ["y"])],
                          name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", width])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", width])], [half, one])
    save_model(g, os.path.join(root, name, "1", "model.onnx"))
    write(os.path.join(root, name, "config.pbtxt"),
          f'name: "{name}"\nmax_batch_size: 16\n'
          f'input [ {{ name: "x" data_type: {in_type} dims: [ {width} ] }} ]\n'
          f'output [ {{ name: "y" data_type: TYPE_FP32 dims: [ {width} ] }} ]\n'
          'dynamic_batching { }\n')


def ids_model(root, name="ids_fp16"):
    """An int64 input declared TYPE_FP16: cannot be retyped."""
    g = helper.make_graph([helper.make_node("Identity", ["i"], ["o"])], name,
                          [helper.make_tensor_value_info("i", TensorProto.INT64, ["b", 4])],
                          [helper.make_tensor_value_info("o", TensorProto.INT64, ["b", 4])])
    save_model(g, os.path.join(root, name, "1", "model.onnx"))
    write(os.path.join(root, name, "config.pbtxt"),
          f'name: "{name}"\nmax_batch_size: 4\ninput [ {{ name: "i" data_type: TYPE_FP16 dims: [ 4 ] }} ]\n')


@pytest.fixture(scope="module")
def server(kiln_bin, tmp_path_factory):
    repo = tmp_path_factory.mktemp("input_dtype_repo")
    scale_model(repo, "fp16_in", "TYPE_FP16")
    scale_model(repo, "u8_in", "TYPE_UINT8")
    ids_model(repo)
    s = Server(kiln_bin, repo, "--strict-readiness", "false")
    yield s
    s.stop()


def binary_infer(server, model, x, datatype):
    header = json.dumps({"inputs": [{"name": "x", "datatype": datatype, "shape": list(x.shape),
                                     "parameters": {"binary_data_size": x.nbytes}}],
                         "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}).encode()
    status, hdrs, body = server.request("POST", f"/v2/models/{model}/infer", header + x.tobytes(),
                                        {"Inference-Header-Content-Length": str(len(header))})
    assert status == 200, body
    n = int(hdrs["Inference-Header-Content-Length"])
    return np.frombuffer(body[n:], dtype=np.float32).reshape(x.shape)


@pytest.mark.parametrize("model,datatype,np_type", [("fp16_in", "FP16", np.float16), ("u8_in", "UINT8", np.uint8)])
def test_narrow_input_is_served(server, model, datatype, np_type):
    status, md = server.get_json(f"/v2/models/{model}")
    assert status == 200, md
    assert md["inputs"][0]["datatype"] == datatype
    rng = np.random.RandomState(3)
    x = (rng.randint(0, 256, size=(3, 8)) if np_type == np.uint8 else rng.randn(3, 8) * 10).astype(np_type)
    y = binary_infer(server, model, x, datatype)
    np.testing.assert_allclose(y, x.astype(np.float32) * 0.5 + 1, rtol=1e-6)
    # The wrong datatype is refused, naming what the model takes.
    status, doc = server.post_json(f"/v2/models/{model}/infer", {
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 8], "data": [0.0] * 8}]})
    assert status == 400 and datatype in doc["error"], doc


def test_non_float_input_cannot_be_retyped(server):
    status, doc = server.post_json("/v2/repository/index", {})
    entry = [e for e in doc if e["name"] == "ids_fp16"][0]
    assert entry["state"] == "UNAVAILABLE"
    assert "'i'" in entry["reason"] and "int64" in entry["reason"], entry
