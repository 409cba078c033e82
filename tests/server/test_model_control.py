"""kiln serve model control (issue 13): config override on load (HTTP and gRPC), refused file overrides and
unknown load parameters, batching auto-complete for ONNX models without max_batch_size, strict readiness, statistics
kept across reloads, and the bounded model-control queue (no thread per load request)."""
import json
import os
import threading

import numpy as np
import pytest
from onnx import TensorProto, helper

from serve_util import Server, add_model, infer_doc, metric_value, output, run_client_snippet, save_model, write


def dyn_model(root, name, first_dim="batch"):
    """y = x * 2 + 1 on FP32 [first_dim, 4], no config.pbtxt."""
    two = helper.make_tensor("two", TensorProto.FLOAT, [1], [2.0])
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    g = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["t"]), helper.make_node("Add", ["t", "one"], ["y"])],
                          name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [first_dim, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [first_dim, 4])], [two, one])
    save_model(g, os.path.join(str(root), name, "1", "model.onnx"))


def load(s, model, parameters=None):
    body = json.dumps({"parameters": parameters}).encode() if parameters is not None else b""
    status, _, raw = s.request("POST", f"/v2/repository/models/{model}/load", body)
    return status, (json.loads(raw) if raw else None)


def threads_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


@pytest.fixture(scope="module")
def explicit(kiln_bin, tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    add_model(repo, "add")
    s = Server(kiln_bin, repo, "--model-control-mode", "explicit", "--load-model", "add")
    yield s
    assert s.stop() == 0


OVERRIDE = {"name": "add", "max_batch_size": 2,
            "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [4]}],
            "output": [{"name": "y", "data_type": "TYPE_FP32", "dims": [4]}]}


def test_config_override_applied_over_http(explicit):
    s = explicit
    status, doc = load(s, "add", {"config": json.dumps(OVERRIDE)})
    assert status == 200, doc
    status, cfg = s.get_json("/v2/models/add/config")
    assert status == 200 and cfg["max_batch_size"] == 2 and "dynamic_batching" not in cfg, cfg
    x = np.ones((3, 4), np.float32)  # 3 rows exceed the override's max_batch_size 2
    assert s.post_json("/v2/models/add/infer", infer_doc(x))[0] == 400
    # A load without the parameter reads config.pbtxt again.
    assert load(s, "add")[0] == 200
    assert s.get_json("/v2/models/add/config")[1]["max_batch_size"] == 64


@pytest.mark.parametrize("config,words", [
    ("{not json", ["config override", "invalid JSON"]),
    ("[1, 2]", ["config override", "JSON object"]),
    (json.dumps({**OVERRIDE, "max_batch_size": -1}), ["config override", "max_batch_size"]),
    (json.dumps({**OVERRIDE, "no_such_field": 1}), ["config override", "no_such_field"]),
    (json.dumps({**OVERRIDE, "name": "other"}), ["config override", "field name"]),
    (json.dumps({**OVERRIDE, "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [5]}]}),
     ["config override", "input[0].dims"]),
])
def test_bad_config_override_is_400_and_model_keeps_serving(explicit, config, words):
    s = explicit
    status, doc = load(s, "add", {"config": config})
    assert status == 400, doc
    assert all(w in doc["error"] for w in words), doc
    status, out = s.post_json("/v2/models/add/infer", infer_doc([[1, 1, 1, 1]]))
    assert status == 200 and output(out).tolist() == [[2, 3, 4, 5]]
    assert s.request("GET", "/v2/models/add/ready")[0] == 200
    assert s.get_json("/v2/models/add/config")[1]["max_batch_size"] == 64


def test_intra_op_thread_count_is_validated_and_applied(explicit):
    s = explicit
    bad = {**OVERRIDE, "parameters": {"intra_op_thread_count": {"string_value": "many"}}}
    status, doc = load(s, "add", {"config": json.dumps(bad)})
    assert status == 400 and "parameters.intra_op_thread_count" in doc["error"] and "many" in doc["error"], doc
    good = {**OVERRIDE, "parameters": {"intra_op_thread_count": {"string_value": "1"}}}
    status, doc = load(s, "add", {"config": json.dumps(good)})
    assert status == 200, doc
    status, out = s.post_json("/v2/models/add/infer", infer_doc([[1, 1, 1, 1]]))
    assert status == 200 and output(out).tolist() == [[2, 3, 4, 5]]
    assert load(s, "add")[0] == 200  # back to config.pbtxt for the other tests


def test_file_overrides_and_unknown_parameters_refused(explicit):
    s = explicit
    status, doc = load(s, "add", {"config": json.dumps(OVERRIDE), "file:1/model.onnx": "AAAA"})
    assert status == 400 and "file overrides" in doc["error"] and "not supported" in doc["error"], doc
    status, doc = load(s, "add", {"colour": "blue"})
    assert status == 400 and "colour" in doc["error"], doc
    status, doc = load(s, "add", {"config": 5})
    assert status == 400 and "config" in doc["error"], doc
    assert s.post_json("/v2/models/add/infer", infer_doc([[0, 0, 0, 0]]))[0] == 200


def test_config_override_over_grpc(explicit):
    run_client_snippet("""
        import json
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException
        c = grpcclient.InferenceServerClient(f"127.0.0.1:{port}")
        c.load_model("add", config=json.dumps({**override, "max_batch_size": 3}))
        assert c.get_model_config("add", as_json=True)["config"]["max_batch_size"] == 3
        try:
            c.load_model("add", config="{broken")
            raise AssertionError("invalid JSON accepted")
        except InferenceServerException as e:
            assert "INVALID_ARGUMENT" in str(e.status()) and "config override" in e.message(), e
        try:
            c.load_model("add", config=json.dumps(override), files={"file:1/model.onnx": b"x"})
            raise AssertionError("file override accepted")
        except InferenceServerException as e:
            assert "not supported" in e.message(), e
        assert c.is_model_ready("add")
        c.load_model("add")
        assert c.get_model_config("add", as_json=True)["config"]["max_batch_size"] == 64
        c.close()
    """, port=explicit.grpc_port, override=OVERRIDE)


def test_autocomplete_batching_for_onnx_without_config(kiln_bin, tmp_path):
    dyn_model(tmp_path, "dyn")
    dyn_model(tmp_path, "fixed", first_dim=2)
    dyn_model(tmp_path, "explicit0")  # config says max_batch_size: 0 explicitly: left alone
    write(os.path.join(str(tmp_path), "explicit0", "config.pbtxt"), 'name: "explicit0"\nmax_batch_size: 0\n')
    s = Server(kiln_bin, tmp_path)
    try:
        cfg = s.get_json("/v2/models/dyn/config")[1]
        assert cfg["max_batch_size"] == 4 and "dynamic_batching" in cfg, cfg
        assert cfg["input"][0]["dims"] in (["4"], [4]), cfg
        meta = s.get_json("/v2/models/dyn")[1]
        assert meta["inputs"][0]["shape"] == [-1, 4] and meta["outputs"][0]["shape"] == [-1, 4], meta
        x = np.arange(12, dtype=np.float32).reshape(3, 4)
        status, doc = s.post_json("/v2/models/dyn/infer", infer_doc(x))
        assert status == 200 and np.allclose(output(doc), x * 2 + 1), doc
        assert s.post_json("/v2/models/dyn/infer", infer_doc(np.zeros((5, 4), np.float32)))[0] == 400
        for name in ("fixed", "explicit0"):
            cfg = s.get_json(f"/v2/models/{name}/config")[1]
            assert cfg.get("max_batch_size", 0) == 0 and "dynamic_batching" not in cfg, cfg
        assert s.get_json("/v2/models/fixed")[1]["inputs"][0]["shape"] == [2, 4]
    finally:
        assert s.stop() == 0
    s = Server(kiln_bin, tmp_path, "--default-max-batch-size", "0")
    try:
        assert s.get_json("/v2/models/dyn/config")[1].get("max_batch_size", 0) == 0
    finally:
        assert s.stop() == 0


def test_strict_readiness(kiln_bin, tmp_path):
    add_model(tmp_path, "good")
    add_model(tmp_path, "broken", config='name: "broken"\nmax_batch_size: -1\n')
    s = Server(kiln_bin, tmp_path)
    try:
        assert s.request("GET", "/v2/health/ready")[0] == 400  # not ready (Triton answers 400 too)
        assert s.request("GET", "/v2/health/live")[0] == 200
        assert s.request("GET", "/v2/models/good/ready")[0] == 200
        run_client_snippet("""
            import tritonclient.grpc as grpcclient
            c = grpcclient.InferenceServerClient(f"127.0.0.1:{port}")
            assert not c.is_server_ready() and c.is_server_live()
        """, port=s.grpc_port)
    finally:
        assert s.stop() == 0
    s = Server(kiln_bin, tmp_path, "--strict-readiness", "false")
    try:
        assert s.request("GET", "/v2/health/ready")[0] == 200
    finally:
        assert s.stop() == 0
    # Explicit mode: a model that was never asked for does not count; an explicitly unloaded one neither.
    s = Server(kiln_bin, tmp_path, "--model-control-mode", "explicit", "--load-model", "good")
    try:
        assert s.request("GET", "/v2/health/ready")[0] == 200
        assert load(s, "good")[0] == 200 and s.request("POST", "/v2/repository/models/good/unload", b"")[0] == 200
        assert s.request("GET", "/v2/health/ready")[0] == 200
        assert load(s, "broken")[0] == 400
        assert s.request("GET", "/v2/health/ready")[0] == 400  # not ready (Triton answers 400 too)
    finally:
        assert s.stop() == 0


def test_reload_keeps_statistics_and_metrics(kiln_bin, tmp_path):
    add_model(tmp_path, "add")
    s = Server(kiln_bin, tmp_path, "--model-control-mode", "explicit", "--load-model", "add")
    try:
        for _ in range(3):
            assert s.post_json("/v2/models/add/infer", infer_doc([[0, 0, 0, 0]]))[0] == 200
        assert s.stats("add")["inference_count"] == 3
        assert load(s, "add")[0] == 200
        assert s.post_json("/v2/models/add/infer", infer_doc([[0, 0, 0, 0]]))[0] == 200
        st = s.stats("add")
        assert st["inference_count"] == 4 and st["inference_stats"]["success"]["count"] == 4, st
        assert metric_value(s.metrics(), "kiln_inference_request_success", model="add", version="1") == 4
    finally:
        assert s.stop() == 0


def test_control_queue_is_bounded(kiln_bin, tmp_path):
    # A load that takes a while (warmup), then 150 concurrent load requests: no thread per request, the queue
    # answers 503 once 64 are pending, every request gets an answer, and the server keeps serving.
    add_model(tmp_path, "w", config='name: "w"\nmax_batch_size: 8\n'
                                    'model_warmup [ { name: "w" batch_size: 8 inputs { key: "x" value: '
                                    '{ data_type: TYPE_FP32 dims: [ 4 ] zero_data: true } } count: 1000 } ]\n')
    add_model(tmp_path, "add")
    s = Server(kiln_bin, tmp_path, "--model-control-mode", "explicit", "--load-model", "add")
    try:
        base = threads_of(s.proc.pid)
        results, peak = [], [0]

        def one():
            results.append(s.request("POST", "/v2/repository/models/w/load", b"", timeout=120))

        ts = [threading.Thread(target=one) for _ in range(150)]
        for t in ts:
            t.start()
        while any(t.is_alive() for t in ts):
            peak[0] = max(peak[0], threads_of(s.proc.pid))
            for t in ts:
                t.join(timeout=0.01)
        codes = [r[0] for r in results]
        assert len(codes) == 150 and set(codes) <= {200, 503}, codes
        full = [json.loads(r[2])["error"] for r in results if r[0] == 503]
        assert full and all("model control queue is full (64 requests pending)" in e for e in full), full[:3]
        assert codes.count(200) >= 1
        assert peak[0] - base < 20, (base, peak[0])
        assert s.post_json("/v2/models/w/infer", infer_doc([[0, 0, 0, 0]]))[0] == 200
    finally:
        assert s.stop() == 0
