"""kiln serve over HTTP/REST: every KServe v2 endpoint, JSON and binary tensors, errors, metrics, config errors."""
import json
import os
import shutil
import struct

import numpy as np
import pytest

from serve_util import Server, add_model, infer_doc, metric_value, multi_model, output, string_model, write

HAVE_GPU = os.path.exists("/dev/nvidia0") or shutil.which("nvidia-smi") is not None


@pytest.fixture(scope="module")
def server(kiln_bin, tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    add_model(repo)
    add_model(repo, "add2", const=(10, 20, 30, 40), version=1)
    add_model(repo, "add2", const=(100, 200, 300, 400), version=2,
              config='name: "add2"\nmax_batch_size: 8\nversion_policy { all { } }\n')
    multi_model(repo)
    string_model(repo)
    add_model(repo, "reshaped", config='name: "reshaped"\nmax_batch_size: 4\n'
                                       'input [ { name: "x" data_type: TYPE_FP32 dims: [ 2, 2 ] reshape { shape: [ 4 ] } } ]\n')
    # Config errors: each such model is UNAVAILABLE with its file and field named; the rest load.
    add_model(repo, "bad_field", config='name: "bad_field"\nmax_batch_size: 4\nno_such_field: 1\n')
    add_model(repo, "bad_dims", config='name: "bad_dims"\nmax_batch_size: 4\n'
                                       'input [ { name: "x" data_type: TYPE_FP32 dims: [ 5 ] } ]\n')
    add_model(repo, "bad_dtype", config='name: "bad_dtype"\nmax_batch_size: 4\n'
                                        'input [ { name: "x" data_type: TYPE_INT32 dims: [ 4 ] } ]\n')
    add_model(repo, "bad_preferred", config='name: "bad_preferred"\nmax_batch_size: 4\n'
                                            'dynamic_batching { preferred_batch_size: [ 8 ] }\n')
    add_model(repo, "bad_name", config='name: "other"\n')
    add_model(repo, "bad_batchdim", config='name: "bad_batchdim"\nmax_batch_size: 0\n'
                                           'input [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]\n')
    write(str(repo / "empty_model" / "config.pbtxt"), 'name: "empty_model"\n')
    add_model(repo, "gpu", config='name: "gpu"\nmax_batch_size: 8\n'
                                  'instance_group [ { count: 2 kind: KIND_GPU gpus: [ 0 ] } ]\n')
    # The repository holds broken models on purpose: readiness is not strict here (test_model_control.py covers it).
    s = Server(kiln_bin, repo, "--strict-readiness", "false")
    yield s
    assert s.stop() == 0


def test_health_and_server_metadata(server):
    assert server.request("GET", "/v2/health/live")[0] == 200
    assert server.request("GET", "/v2/health/ready")[0] == 200
    status, doc = server.get_json("/v2")
    assert status == 200 and doc["name"] == "kiln" and "binary_tensor_data" in doc["extensions"]
    assert server.request("POST", "/v2/health/live")[0] == 405
    assert server.request("GET", "/v3")[0] == 404


def test_model_metadata_ready_and_config(server):
    status, md = server.get_json("/v2/models/add")
    assert status == 200
    assert md["name"] == "add" and md["versions"] == ["1"] and md["platform"] == "kiln"
    assert md["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
    assert md["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [-1, 4]}]
    assert server.get_json("/v2/models/add/versions/1")[0] == 200
    assert server.request("GET", "/v2/models/add/ready")[0] == 200
    assert server.request("GET", "/v2/models/add/versions/1/ready")[0] == 200
    assert server.request("GET", "/v2/models/add/versions/7/ready")[0] == 400
    status, cfg = server.get_json("/v2/models/add/config")
    assert status == 200 and cfg["max_batch_size"] == 64
    assert cfg["dynamic_batching"]["max_queue_delay_microseconds"] in ("2000", 2000)
    # A config without inputs/outputs is completed from the engine.
    status, cfg = server.get_json("/v2/models/multi/config")
    assert status == 200 and [i["name"] for i in cfg["input"]] == ["i", "m"]
    assert [i["data_type"] for i in cfg["input"]] == ["TYPE_INT64", "TYPE_BOOL"]


def test_unknown_model_and_version_are_404(server):
    status, doc = server.get_json("/v2/models/nope")
    assert status == 404 and "nope" in doc["error"]
    assert server.get_json("/v2/models/add/versions/9")[0] == 404
    status, doc = server.post_json("/v2/models/nope/infer", infer_doc([[1, 2, 3, 4]]))
    assert status == 404 and "unknown model" in doc["error"]
    assert server.post_json("/v2/models/add/versions/3/infer", infer_doc([[1, 2, 3, 4]]))[0] == 404
    # Paths never reach the file system: a traversal attempt is just an unknown model.
    assert server.get_json("/v2/models/..%2F..%2Fetc")[0] == 404


def test_versions_policy_all(server):
    x = np.array([[1, 1, 1, 1]], np.float32)
    status, doc = server.post_json("/v2/models/add2/versions/1/infer", infer_doc(x))
    assert status == 200 and output(doc).tolist() == [[11, 21, 31, 41]] and doc["model_version"] == "1"
    status, doc = server.post_json("/v2/models/add2/infer", infer_doc(x))  # highest version
    assert status == 200 and output(doc).tolist() == [[101, 201, 301, 401]] and doc["model_version"] == "2"
    assert server.get_json("/v2/models/add2")[1]["versions"] == ["1", "2"]


def test_infer_json_flat_and_nested(server):
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    status, doc = server.post_json("/v2/models/add/infer", infer_doc(x, id="req-7"))
    assert status == 200, doc
    assert doc["id"] == "req-7" and doc["model_name"] == "add" and doc["model_version"] == "1"
    assert doc["outputs"][0]["datatype"] == "FP32" and doc["outputs"][0]["shape"] == [2, 4]
    np.testing.assert_allclose(output(doc), x + [1, 2, 3, 4])
    nested = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 4], "data": x.tolist()}],
              "outputs": [{"name": "y"}]}
    status, doc = server.post_json("/v2/models/add/infer", nested)
    assert status == 200 and "id" not in doc
    np.testing.assert_allclose(output(doc), x + [1, 2, 3, 4])


def test_input_reshape(server):
    assert server.get_json("/v2/models/reshaped")[1]["inputs"][0]["shape"] == [-1, 2, 2]
    x = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    status, doc = server.post_json("/v2/models/reshaped/infer", infer_doc(x))
    assert status == 200, doc
    np.testing.assert_allclose(output(doc), x.reshape(2, 4) + [1, 2, 3, 4])
    assert server.post_json("/v2/models/reshaped/infer", infer_doc(x.reshape(2, 4)))[0] == 400


def test_infer_int64_bool_two_outputs(server):
    i = np.arange(6).reshape(2, 3)
    m = np.array([[True, False, True], [False, False, True]])
    doc = {"inputs": [{"name": "i", "datatype": "INT64", "shape": [2, 3], "data": i.flatten().tolist()},
                      {"name": "m", "datatype": "BOOL", "shape": [2, 3], "data": m.tolist()}]}
    status, out = server.post_json("/v2/models/multi/infer", doc)
    assert status == 200, out
    assert out["outputs"][0]["datatype"] == "INT64" and output(out, 0).tolist() == (i + 1).tolist()
    assert out["outputs"][1]["datatype"] == "BOOL" and output(out, 1).tolist() == (~m).tolist()
    doc["outputs"] = [{"name": "b"}]
    status, out = server.post_json("/v2/models/multi/infer", doc)
    assert status == 200 and [o["name"] for o in out["outputs"]] == ["b"]


def binary_request(header, blobs):
    head = json.dumps(header).encode()
    return head + b"".join(blobs), {"Inference-Header-Content-Length": str(len(head)),
                                    "Content-Type": "application/octet-stream"}


def test_infer_bytes_json_and_binary(server):
    doc = {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1, 2], "data": ["hello", "w\u00f6rld"]}]}
    status, out = server.post_json("/v2/models/strings/infer", doc)
    assert status == 200, out
    assert out["outputs"][0]["datatype"] == "BYTES" and out["outputs"][0]["data"] == ["hello", "w\u00f6rld"]
    elems = [b"ab", b"\x00\xff"]
    blob = b"".join(struct.pack("<I", len(e)) + e for e in elems)
    header = {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1, 2],
                          "parameters": {"binary_data_size": len(blob)}}],
              "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}
    body, headers = binary_request(header, [blob])
    status, hdrs, resp = server.request("POST", "/v2/models/strings/infer", body, headers)
    assert status == 200, resp
    assert resp[int(hdrs["Inference-Header-Content-Length"]):] == blob
    header["inputs"][0]["parameters"]["binary_data_size"] = len(blob) - 1  # truncated last element
    body, headers = binary_request(header, [blob[:-1]])
    assert server.request("POST", "/v2/models/strings/infer", body, headers)[0] == 400


def test_infer_binary_tensor_data(server):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    header = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [3, 4],
                          "parameters": {"binary_data_size": x.nbytes}}],
              "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}
    body, headers = binary_request(header, [x.tobytes()])
    status, hdrs, resp = server.request("POST", "/v2/models/add/infer", body, headers)
    assert status == 200, resp
    hlen = int(hdrs["Inference-Header-Content-Length"])
    assert hdrs["Content-Type"] == "application/octet-stream"
    meta = json.loads(resp[:hlen])
    out = meta["outputs"][0]
    assert out["parameters"]["binary_data_size"] == x.nbytes and "data" not in out
    y = np.frombuffer(resp[hlen:], np.float32).reshape(out["shape"])
    np.testing.assert_allclose(y, x + [1, 2, 3, 4])
    # binary_data_output applies to every output; JSON input with binary output works too.
    doc = infer_doc(x, parameters={"binary_data_output": True})
    status, hdrs, resp = server.request("POST", "/v2/models/add/infer", json.dumps(doc).encode())
    assert status == 200 and int(hdrs["Inference-Header-Content-Length"]) < len(resp)


@pytest.mark.parametrize("doc,needle", [
    ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3]}]}, "needs 4 elements"),
    ({"inputs": [{"name": "x", "datatype": "INT32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}, "datatype"),
    ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 5], "data": [1, 2, 3, 4, 5]}]}, "shape"),
    ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [65, 4], "data": [0] * 260}]}, "batch size 65"),
    ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [4], "data": [1, 2, 3, 4]}]}, "shape"),
    ({"inputs": [{"name": "x", "datatype": "FP99", "shape": [1, 4], "data": [1, 2, 3, 4]}]}, "unknown datatype"),
    ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, -4], "data": []}]}, "shape"),
    ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": ["a", 2, 3, 4]}]}, "element 0"),
    ({"inputs": []}, "missing input"),
    ({"inputs": "x"}, "'inputs' must be an array"),
    ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]},
                 {"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}, "twice"),
    ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}],
      "parameters": {"priority": -1}}, "priority"),  # out-of-range positive priorities run at the default
    ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [4294967296, 4294967296, 4294967296], "data": []}]},
     "overflow"),
])
def test_infer_bad_requests_are_400(server, doc, needle):
    status, out = server.post_json("/v2/models/add/infer", doc)
    assert status == 400, out
    assert needle in out["error"]


def test_unknown_input_or_output_is_404(server):
    doc = {"inputs": [{"name": "zz", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}
    status, out = server.post_json("/v2/models/add/infer", doc)
    assert status == 404 and "zz" in out["error"]
    doc = infer_doc([[1, 2, 3, 4]], outputs=[{"name": "nope"}])
    assert server.post_json("/v2/models/add/infer", doc)[0] == 404


@pytest.mark.parametrize("body,headers", [
    (b"{not json", {}),
    (b"[" * 100000 + b"]" * 100000, {}),
    (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "parameters": {"binary_data_size": 16}}]}',
     {}),
    (b"{}" + b"\0" * 8, {"Inference-Header-Content-Length": "2"}),
    (b"{}", {"Inference-Header-Content-Length": "99"}),
    (b"{}", {"Inference-Header-Content-Length": "-1"}),
])
def test_malformed_bodies_are_400(server, body, headers):
    status, _, resp = server.request("POST", "/v2/models/add/infer", body, headers)
    assert status == 400, resp
    assert "error" in json.loads(resp)


def test_binary_size_mismatch_is_400(server):
    x = np.zeros((1, 4), np.float32)
    header = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 4], "parameters": {"binary_data_size": 16}}]}
    body, headers = binary_request(header, [x.tobytes()])
    status, _, resp = server.request("POST", "/v2/models/add/infer", body, headers)
    assert status == 400 and b"bytes" in resp


def test_config_errors_are_isolated(server):
    status, _, body = server.request("POST", "/v2/repository/index", b"")
    assert status == 200
    index = {e["name"]: e for e in json.loads(body)}
    assert index["add"]["state"] == "READY" and index["multi"]["state"] == "READY"
    expect = {"bad_field": "no_such_field", "bad_dims": "input[0].dims", "bad_dtype": "input[0].data_type",
              "bad_preferred": "dynamic_batching.preferred_batch_size", "bad_name": "field name",
              "bad_batchdim": "input[0].dims", "empty_model": "no version"}
    for name, field in expect.items():
        e = index[name]
        assert e["state"] == "UNAVAILABLE", e
        assert field in e["reason"], e
        if name != "empty_model":
            assert f"{name}/config.pbtxt" in e["reason"], e
        assert server.get_json(f"/v2/models/{name}")[0] == 503
    # Each failure was logged as one line naming the model.
    logged = {r.get("model") for r in server.logs if r.get("msg") == "model failed to load"}
    assert set(expect) <= logged
    status, _, body = server.request("POST", "/v2/repository/index", b'{"ready": true}')
    assert {e["name"] for e in json.loads(body)} == {"add", "add2", "multi", "strings", "reshaped"} | ({"gpu"} if HAVE_GPU else set())


def test_gpu_instance_group(server):
    """KIND_GPU compiles for device cuda: it serves on a GPU machine and fails to load, with the build's
    message, where no GPU is visible."""
    status, _, body = server.request("POST", "/v2/repository/index", b"")
    entry = {e["name"]: e for e in json.loads(body)}["gpu"]
    if not HAVE_GPU:
        assert entry["state"] == "UNAVAILABLE" and "for device cuda" in entry["reason"], entry
        return
    assert entry["state"] == "READY", entry
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    status, doc = server.post_json("/v2/models/gpu/infer", infer_doc(x))
    assert status == 200, doc
    np.testing.assert_allclose(output(doc), x + [1, 2, 3, 4])


def test_statistics_and_metrics(server):
    for _ in range(3):
        assert server.post_json("/v2/models/add/infer", infer_doc([[1, 2, 3, 4]]))[0] == 200
    server.post_json("/v2/models/add/infer", infer_doc([[1, 2, 3]]))  # a failure (OTHER)
    s = server.stats("add")
    assert s["name"] == "add" and s["version"] == "1"
    st = s["inference_stats"]
    assert st["success"]["count"] >= 3 and st["fail"]["count"] >= 1
    assert st["queue"]["count"] == st["success"]["count"] and st["compute_infer"]["ns"] > 0
    assert s["inference_count"] >= 3 and 1 <= s["execution_count"] <= s["inference_count"]
    assert s["batch_stats"] and s["batch_stats"][0]["compute_infer"]["count"] >= 1
    status, doc = server.get_json("/v2/models/stats")
    assert status == 200 and {m["name"] for m in doc["model_stats"]} >= {"add", "multi"}
    text = server.metrics()
    assert metric_value(text, "kiln_inference_request_success", model="add", version="1") >= 3
    assert metric_value(text, "kiln_inference_request_failure", model="add", reason="OTHER") >= 1
    assert metric_value(text, "kiln_inference_count", model="add") >= 3
    assert metric_value(text, "kiln_inference_exec_count", model="add") >= 1
    for name in ["kiln_inference_request_duration_us", "kiln_inference_queue_duration_us",
                 "kiln_inference_compute_input_duration_us", "kiln_inference_compute_infer_duration_us",
                 "kiln_inference_compute_output_duration_us", "kiln_inference_pending_request_count"]:
        assert metric_value(text, name, model="add", version="1") is not None, name
    assert metric_value(text, "kiln_inference_batch_size_bucket", model="add", le="+Inf") >= 1
    assert "# TYPE kiln_inference_batch_size histogram" in text
    # GPU gauges only where NVML reports a GPU; without one there are no GPU metrics and no error.
    assert ("kiln_gpu_utilization{" in text) == HAVE_GPU
    if HAVE_GPU:
        assert metric_value(text, "kiln_gpu_memory_total_bytes") > 0
    assert server.request("GET", "/nope", port=server.metrics_port)[0] == 404


def test_repository_control_refused_in_mode_none(server):
    status, _, body = server.request("POST", "/v2/repository/models/add/unload", b"")
    assert status == 503 and b"mode none" in body
    assert server.request("POST", "/v2/repository/models/add/load", b"")[0] == 503


def test_logs_are_json_lines_with_request_id(server):
    import time
    server.post_json("/v2/models/add/infer", infer_doc([[1, 2, 3]], id="trace-me"))
    deadline = time.time() + 10
    while not [r for r in server.logs if r.get("request_id") == "trace-me"] and time.time() < deadline:
        time.sleep(0.02)
    recs = [r for r in server.logs if r.get("request_id") == "trace-me"]
    assert recs and recs[0]["model"] == "add" and recs[0]["level"] == "warning" and "ts" in recs[0]
    assert all("raw" not in r for r in server.logs), [r for r in server.logs if "raw" in r][:3]


def test_keep_alive_connection_reused(server):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
    body = json.dumps(infer_doc([[1, 2, 3, 4]])).encode()
    for _ in range(20):
        conn.request("POST", "/v2/models/add/infer", body)
        r = conn.getresponse()
        assert r.status == 200 and r.getheader("Connection", "keep-alive").lower() != "close"
        r.read()
    conn.close()
