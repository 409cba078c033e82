"""kiln serve's core request semantics over HTTP and gRPC: the classification extension (top-k strings with labels),
Triton's priority mapping, duplicate/excess requested outputs, huge timeouts, and the failure counters.

Process isolation (as test_triton_clients.py): tritonclient.grpc and test_grpc_support.py's generated stubs both
define the protobuf package `inference`, which one process's descriptor pool refuses twice. In a pytest run over
tests/server this module only defines test_suite_in_own_process, which re-runs this file in a child pytest with
KILN_CLIENT_SUITE set to this file's name; only that child imports tritonclient and runs the tests below.
Run one test directly:  KILN_CLIENT_SUITE=test_core_semantics.py pytest tests/server/test_core_semantics.py -k NAME
"""
import os
import struct
import uuid
from multiprocessing import shared_memory

import numpy as np
import pytest
from onnx import TensorProto, helper

from serve_util import Server, add_model, metric_value, run_suite_in_own_process, save_model, string_model, write

IN_OWN_PROCESS = os.environ.get("KILN_CLIENT_SUITE") == os.path.basename(__file__)
if IN_OWN_PROCESS:
    import tritonclient.grpc as grpcclient
    import tritonclient.http as httpclient


def test_suite_in_own_process(kiln_bin):
    """Runs every test of this file in a child pytest (see the module docstring); fails with the child's failures."""
    run_suite_in_own_process(__file__, kiln_bin, timeout=300)

LABELS = [f"class {i}" for i in range(5)]  # one short of the 6 classes: class 5 has no label


def cls_model(root, name="cls"):
    """Batched: y = Identity(x) (with labels), z = Neg(x), i = Cast<INT32>(x); x FP32 [b, 2, 3]."""
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"]), helper.make_node("Neg", ["x"], ["z"]),
                           helper.make_node("Cast", ["x"], ["i"], to=TensorProto.INT32)], name,
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 2, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 2, 3]),
                           helper.make_tensor_value_info("z", TensorProto.FLOAT, ["b", 2, 3]),
                           helper.make_tensor_value_info("i", TensorProto.INT32, ["b", 2, 3])])
    save_model(g, os.path.join(root, name, "1", "model.onnx"))
    write(os.path.join(root, name, "labels.txt"), "\n".join(LABELS) + "\n")
    write(os.path.join(root, name, "config.pbtxt"),
          f'name: "{name}"\nmax_batch_size: 8\n'
          'input [ { name: "x" data_type: TYPE_FP32 dims: [ 2, 3 ] } ]\n'
          'output [ { name: "y" data_type: TYPE_FP32 dims: [ 2, 3 ] label_filename: "labels.txt" },\n'
          '         { name: "z" data_type: TYPE_FP32 dims: [ 2, 3 ] },\n'
          '         { name: "i" data_type: TYPE_INT32 dims: [ 2, 3 ] } ]\n'
          'dynamic_batching { max_queue_delay_microseconds: 1000 }\n')


def nb_model(root, name="cls_nb"):
    """Not batched (no dynamic batching, so the request timeout applies): y = Identity(x), FP32 [3, 4]."""
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], name,
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 4])])
    save_model(g, os.path.join(root, name, "1", "model.onnx"))
    write(os.path.join(root, name, "labels.txt"), "\n".join(f"nb{i}" for i in range(12)))
    write(os.path.join(root, name, "config.pbtxt"),
          f'name: "{name}"\nmax_batch_size: 0\n'
          'input [ { name: "x" data_type: TYPE_FP32 dims: [ 3, 4 ] } ]\n'
          'output [ { name: "y" data_type: TYPE_FP32 dims: [ 3, 4 ] label_filename: "labels.txt" } ]\n')


def gather_model(root, name="gather"):
    """y = Gather(c, idx) with c FP32 [4]: an index out of range is the request's fault, not the engine's."""
    c = helper.make_tensor("c", TensorProto.FLOAT, [4], [1.0, 2.0, 3.0, 4.0])
    g = helper.make_graph([helper.make_node("Gather", ["c", "idx"], ["y"])], name,
                          [helper.make_tensor_value_info("idx", TensorProto.INT64, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], [c])
    save_model(g, os.path.join(root, name, "1", "model.onnx"))
    write(os.path.join(root, name, "config.pbtxt"), f'name: "{name}"\nmax_batch_size: 0\n')


@pytest.fixture(scope="module")
def server(kiln_bin, tmp_path_factory):
    repo = tmp_path_factory.mktemp("core")
    cls_model(repo)
    nb_model(repo)
    gather_model(repo)
    string_model(repo)
    add_model(repo)  # no priority levels
    add_model(repo, "prio", config='name: "prio"\nmax_batch_size: 8\n'
                                   'dynamic_batching { priority_levels: 2 default_priority_level: 2 }\n')
    s = Server(kiln_bin, repo, "--model-control-mode", "explicit", "--load-model", "*")
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def hc(server):
    c = httpclient.InferenceServerClient(f"127.0.0.1:{server.http_port}")
    yield c
    c.close()


@pytest.fixture(scope="module")
def gc(server):
    c = grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    yield c
    c.close()


def expected_topk(x, k, labels=None, batched=True, fmt=lambda v: "%f" % v):
    """Triton's strings for x: per row (batched) or for the whole tensor, value:index[:label], descending."""
    items = x.reshape(x.shape[0], -1) if batched else x.reshape(1, -1)
    out = []
    for row in items:
        order = np.argsort(-row.astype(np.float64), kind="stable")[:k]
        out.append([f"{fmt(row[i])}:{i}" + (f":{labels[i]}" if labels and i < len(labels) else "") for i in order])
    return np.array(out if batched else out[0], dtype=object)


def decode(arr):
    return np.vectorize(lambda b: b.decode() if isinstance(b, bytes) else b, otypes=[object])(arr)


def distinct(shape, seed):
    """Values with no ties (so the order is unambiguous), float32-exact."""
    n = int(np.prod(shape))
    return (np.random.RandomState(seed).permutation(n).astype(np.float32) * 0.37 - 3.1).reshape(shape)


def client_infer(mod, client, model, x, outputs, **kw):
    inp = mod.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    return client.infer(model, [inp], outputs=outputs, **kw)


@pytest.mark.parametrize("proto", ["http", "grpc"])
@pytest.mark.parametrize("binary", [True, False])
def test_classification_batched_with_and_without_labels(server, hc, gc, proto, binary):
    mod, client = (httpclient, hc) if proto == "http" else (grpcclient, gc)
    x = distinct((3, 2, 3), seed=1)
    kw = {"binary_data": binary} if proto == "http" else {}
    outs = [mod.InferRequestedOutput("y", class_count=4, **kw), mod.InferRequestedOutput("z", class_count=2, **kw),
            mod.InferRequestedOutput("i", class_count=3, **kw)]
    r = client_infer(mod, client, "cls", x, outs)
    y, z, i = (decode(r.as_numpy(n)) for n in ("y", "z", "i"))
    assert y.shape == (3, 4) and z.shape == (3, 2) and i.shape == (3, 3)
    assert (y == expected_topk(x, 4, LABELS)).all(), y
    assert (z == expected_topk(-x, 2)).all(), z
    xi = x.astype(np.int32)  # ties among the rounded values: lower index first
    order = [np.lexsort((np.arange(6), -row))[:3] for row in xi.reshape(3, -1)]
    assert (i == np.array([[f"{row[j]}:{j}" for j in o] for row, o in zip(xi.reshape(3, -1), order)])).all(), i
    out = r.get_output("y")
    assert (out["datatype"] if proto == "http" else out.datatype) == "BYTES"


@pytest.mark.parametrize("proto", ["http", "grpc"])
def test_classification_unbatched_and_k_larger_than_elements(server, hc, gc, proto):
    mod, client = (httpclient, hc) if proto == "http" else (grpcclient, gc)
    x = distinct((3, 4), seed=2)
    r = client_infer(mod, client, "cls_nb", x, [mod.InferRequestedOutput("y", class_count=5)])
    y = decode(r.as_numpy("y"))
    assert y.shape == (5,)
    assert (y == expected_topk(x, 5, [f"nb{i}" for i in range(12)], batched=False)).all(), y
    r = client_infer(mod, client, "cls_nb", x, [mod.InferRequestedOutput("y", class_count=100)])
    assert decode(r.as_numpy("y")).shape == (12,)
    # Without the parameter the raw tensor comes back.
    r = client_infer(mod, client, "cls_nb", x, [mod.InferRequestedOutput("y")])
    np.testing.assert_array_equal(r.as_numpy("y"), x)


def test_classification_json_and_errors_http(server):
    x = distinct((2, 2, 3), seed=3)
    doc = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 2, 3], "data": x.flatten().tolist()}],
           "outputs": [{"name": "y", "parameters": {"classification": 2, "binary_data": False}}]}
    status, body = server.post_json("/v2/models/cls/infer", doc)
    assert status == 200, body
    out = body["outputs"][0]
    assert out["datatype"] == "BYTES" and out["shape"] == [2, 2]
    assert out["data"] == expected_topk(x, 2, LABELS).flatten().tolist()
    for bad in (0, -1, "3", 1.5, True):
        doc["outputs"][0]["parameters"]["classification"] = bad
        status, body = server.post_json("/v2/models/cls/infer", doc)
        assert status == 400 and "classification" in body["error"], (bad, body)
    sdoc = {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1, 2], "data": ["a", "b"]}],
            "outputs": [{"name": "y", "parameters": {"classification": 1}}]}
    status, body = server.post_json("/v2/models/strings/infer", sdoc)
    assert status == 400 and "numeric" in body["error"], body


def test_classification_into_shared_memory(server):
    x = distinct((2, 2, 3), seed=4)
    expected = expected_topk(x, 3, LABELS).flatten()
    blob = b"".join(struct.pack("<I", len(s.encode())) + s.encode() for s in expected)
    key = "kiln_test_cls_" + uuid.uuid4().hex[:10]
    shm = shared_memory.SharedMemory(name=key, create=True, size=4096)
    try:
        status, body = server.post_json(f"/v2/systemsharedmemory/region/{key}/register",
                                        {"key": "/" + key, "offset": 0, "byte_size": 4096})
        assert status == 200, body
        doc = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 2, 3], "data": x.flatten().tolist()}],
               "outputs": [{"name": "y", "parameters": {"classification": 3, "shared_memory_region": key,
                                                        "shared_memory_byte_size": 4096}}]}
        status, body = server.post_json("/v2/models/cls/infer", doc)
        assert status == 200, body
        out = body["outputs"][0]
        assert out["datatype"] == "BYTES" and out["shape"] == [2, 3]
        assert out["parameters"]["shared_memory_byte_size"] == len(blob)
        assert bytes(shm.buf[:len(blob)]) == blob
        # A region too small for the strings is a clean 400.
        doc["outputs"][0]["parameters"]["shared_memory_byte_size"] = 8
        status, body = server.post_json("/v2/models/cls/infer", doc)
        assert status == 400 and "bytes" in body["error"], body
        server.post_json(f"/v2/systemsharedmemory/region/{key}/unregister", {})
    finally:
        shm.close()
        shm.unlink()


@pytest.mark.parametrize("proto", ["http", "grpc"])
def test_priority_mapped_like_triton(server, hc, gc, proto):
    mod, client = (httpclient, hc) if proto == "http" else (grpcclient, gc)
    x = np.ones((1, 4), np.float32)
    for model, prio in (("add", 1), ("add", 7), ("prio", 1), ("prio", 2), ("prio", 3), ("prio", 0)):
        r = client_infer(mod, client, model, x, None, priority=prio)
        np.testing.assert_allclose(r.as_numpy("y"), x + [1, 2, 3, 4])
    doc = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 1, 1, 1]}]}
    for bad in (-1, "high", 1.5):
        status, body = server.post_json("/v2/models/add/infer", dict(doc, parameters={"priority": bad}))
        assert status == 400 and "priority" in body["error"], (bad, body)


def test_requested_outputs_duplicate_or_excess_http(server):
    doc = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2, 3], "data": [0] * 6}],
           "outputs": [{"name": "y"}, {"name": "z"}, {"name": "y"}]}
    status, body = server.post_json("/v2/models/cls/infer", doc)
    assert status == 400 and body["error"] == "output 'y' is requested more than once", body
    doc["outputs"] = [{"name": "y"}] * 5000
    status, body = server.post_json("/v2/models/cls/infer", doc)
    assert status == 400 and "5000 outputs are requested" in body["error"], body
    doc["outputs"] = [{"name": "i"}, {"name": "z"}, {"name": "y"}]
    status, body = server.post_json("/v2/models/cls/infer", doc)
    assert status == 200 and [o["name"] for o in body["outputs"]] == ["i", "z", "y"]


def test_requested_outputs_duplicate_or_excess_grpc(gc):
    x = np.zeros((1, 2, 3), np.float32)
    with pytest.raises(Exception) as e:
        client_infer(grpcclient, gc, "cls", x, [grpcclient.InferRequestedOutput("z")] * 2)
    assert "'z' is requested more than once" in str(e.value)
    with pytest.raises(Exception) as e:
        client_infer(grpcclient, gc, "cls", x, [grpcclient.InferRequestedOutput("z")] * 1000)
    assert "1000 outputs are requested" in str(e.value)


def test_huge_timeout_saturates(server, gc):
    x = distinct((3, 4), seed=5)
    base = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [3, 4], "data": x.flatten().tolist()}]}
    for t in (20_000_000_000_000_000, 9_223_372_036_854_775_807, 1e30):
        status, body = server.post_json("/v2/models/cls_nb/infer", dict(base, parameters={"timeout": t}))
        assert status == 200, (t, body)
    status, body = server.post_json("/v2/models/cls_nb/infer", dict(base, parameters={"timeout": -5}))
    assert status == 400 and "timeout" in body["error"]
    r = client_infer(grpcclient, gc, "cls_nb", x, None, timeout=2**63 - 1)
    np.testing.assert_array_equal(r.as_numpy("y"), x)


def server_failures(server, reason):
    text = server.metrics()
    return sum(metric_value(text, "kiln_server_request_failure", protocol=p, reason=reason) or 0
               for p in ("http", "grpc", "other"))


def test_failures_before_a_model_is_chosen_are_counted(server, gc):
    before = server_failures(server, "UNKNOWN_MODEL")
    doc = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 1, 1, 1]}]}
    assert server.post_json("/v2/models/no_such_model/infer", doc)[0] == 404
    with pytest.raises(Exception):
        client_infer(grpcclient, gc, "no_such_model", np.ones((1, 4), np.float32), None)
    assert server_failures(server, "UNKNOWN_MODEL") == before + 2
    before = server_failures(server, "SHARED_MEMORY")
    doc["inputs"][0].pop("data")
    doc["inputs"][0]["parameters"] = {"shared_memory_region": "nope", "shared_memory_byte_size": 16}
    assert server.post_json("/v2/models/add/infer", doc)[0] == 400
    assert server_failures(server, "SHARED_MEMORY") == before + 1
    # Malformed bodies: JSON that does not parse (HTTP), bytes that are no ModelInferRequest (gRPC), and a request
    # whose raw input contents do not match its inputs (gRPC): counted before any model is looked at.
    import grpc
    before = server_failures(server, "MALFORMED")
    status, _, _ = server.request("POST", "/v2/models/add/infer", b'{"inputs": [', {"Content-Type": "application/json"})
    assert status == 400
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        raw = ch.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        with pytest.raises(grpc.RpcError) as e:
            raw(b"\xff\xff\xff\xff", timeout=10)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert server_failures(server, "MALFORMED") == before + 2


def test_request_caused_engine_error_is_400_and_other(server):
    text = server.metrics()
    other = metric_value(text, "kiln_inference_request_failure", model="gather", reason="OTHER")
    backend = metric_value(text, "kiln_inference_request_failure", model="gather", reason="BACKEND")
    doc = {"inputs": [{"name": "idx", "datatype": "INT64", "shape": [2], "data": [0, 40]}]}
    status, body = server.post_json("/v2/models/gather/infer", doc)
    assert status == 400, body
    text = server.metrics()
    assert metric_value(text, "kiln_inference_request_failure", model="gather", reason="OTHER") == other + 1
    assert metric_value(text, "kiln_inference_request_failure", model="gather", reason="BACKEND") == backend
    doc["inputs"][0]["data"] = [3, 1]
    status, body = server.post_json("/v2/models/gather/infer", doc)
    assert status == 200 and body["outputs"][0]["data"] == [4.0, 2.0]


def test_counters_survive_reload(server):
    doc = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 1, 1, 1]}]}
    for _ in range(3):
        assert server.post_json("/v2/models/add/infer", doc)[0] == 200
    before = metric_value(server.metrics(), "kiln_inference_request_success", model="add")
    assert before >= 3
    assert server.request("POST", "/v2/repository/models/add/load", b"")[0] == 200
    assert server.post_json("/v2/models/add/infer", doc)[0] == 200
    assert metric_value(server.metrics(), "kiln_inference_request_success", model="add") == before + 1
    assert server.stats("add")["inference_stats"]["success"]["count"] == before + 1


# In the parent run only test_suite_in_own_process is collected; in the child, every test but it.
for _name in [n for n in globals() if n.startswith("test_") and (n == "test_suite_in_own_process") == IN_OWN_PROCESS]:
    del globals()[_name]
