"""kiln serve's trace and logging extensions (Triton's v2/trace/setting, v2/logging and their gRPC rpcs), and the
gRPC answers for rpcs it does not serve: each test drives the real binary over HTTP and gRPC."""
import json
import os
import time

import grpc
import numpy as np
import pytest

from serve_util import Server, add_model, infer_doc
from test_grpc_support import grpc_stubs

STAMPS = ["REQUEST_START", "QUEUE_START", "COMPUTE_START", "COMPUTE_INPUT_END", "COMPUTE_OUTPUT_START", "COMPUTE_END",
          "REQUEST_END"]


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    return grpc_stubs(tmp_path_factory.mktemp("stubs"))


@pytest.fixture(scope="module")
def env(kiln_bin, tmp_path_factory):
    root = tmp_path_factory.mktemp("trace")
    repo = root / "repo"
    add_model(str(repo), "add")
    add_model(str(repo), "other", const=(0, 0, 0, 0))
    trace_file = root / "trace.jsonl"
    s = Server(kiln_bin, repo, "--trace-file", str(trace_file))
    yield s, trace_file
    s.stop()


@pytest.fixture
def stub(env, pb):
    s, _ = env
    _, pbg = pb
    with grpc.insecure_channel(f"127.0.0.1:{s.grpc_port}") as ch:
        yield pbg.GRPCInferenceServiceStub(ch)


def infer(s, model="add", n=1):
    for _ in range(n):
        status, doc = s.post_json(f"/v2/models/{model}/infer", infer_doc(np.ones((1, 4), np.float32)))
        assert status == 200, doc


def records(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def reset(s):
    for path in ("/v2/models/add/trace/setting", "/v2/models/other/trace/setting"):
        s.post_json(path, {"trace_level": None, "trace_rate": None, "trace_count": None, "log_frequency": None})
    status, doc = s.post_json("/v2/trace/setting", {"trace_level": ["OFF"], "trace_rate": "1000", "trace_count": "-1",
                                                    "log_frequency": "0"})
    assert status == 200, doc


def test_trace_setting_defaults_and_shapes(env):
    s, trace_file = env
    reset(s)
    status, doc = s.get_json("/v2/trace/setting")
    assert status == 200
    assert doc == {"trace_level": ["OFF"], "trace_rate": "1000", "trace_count": "-1", "log_frequency": "0",
                   "trace_file": str(trace_file), "trace_mode": "triton"}


@pytest.mark.parametrize("body,needle", [
    ({"trace_file": "/tmp/elsewhere.json"}, "trace_file can only be set with --trace-file"),
    ({"trace_level": ["LOUD"]}, "trace_level 'LOUD'"),
    ({"trace_rate": "zero"}, "trace_rate 'zero' is not an integer"),
    ({"trace_rate": "0"}, "trace_rate must be at least 1"),
    ({"trace_count": "-5"}, "trace_count"),
    ({"trace_mode": "opentelemetry"}, "trace_mode 'opentelemetry' is not supported"),
    ({"trace_sampling": "1"}, "unknown trace setting 'trace_sampling'"),
    ({"trace_rate": {"a": 1}}, "trace_rate"),
])
def test_trace_setting_rejects_bad_values(env, body, needle):
    s, _ = env
    reset(s)
    status, doc = s.post_json("/v2/trace/setting", body)
    assert status == 400, doc
    assert needle in doc["error"], doc
    # Nothing was applied.
    assert s.get_json("/v2/trace/setting")[1]["trace_rate"] == "1000"


def test_timestamps_are_traced_with_rate_and_count(env):
    s, trace_file = env
    reset(s)
    before = len(records(trace_file))
    infer(s, n=3)  # level OFF: nothing traced
    assert len(records(trace_file)) == before
    status, doc = s.post_json("/v2/trace/setting", {"trace_level": ["TIMESTAMPS"], "trace_rate": "2"})
    assert status == 200 and doc["trace_level"] == ["TIMESTAMPS"] and doc["trace_rate"] == "2", doc
    infer(s, n=6)
    new = records(trace_file)[before:]
    assert len(new) == 3, new  # every 2nd of 6
    for r in new:
        assert r["model_name"] == "add" and r["model_version"] == 1
        names = [t["name"] for t in r["timestamps"]]
        assert names == STAMPS
        ns = [t["ns"] for t in r["timestamps"]]
        assert ns == sorted(ns) and ns[0] > 0
    assert len({r["id"] for r in new}) == 3
    # trace_count: the number of traces left; it counts down and stops tracing at 0.
    before = len(records(trace_file))
    status, doc = s.post_json("/v2/trace/setting", {"trace_rate": "1", "trace_count": "2"})
    assert status == 200, doc
    infer(s, n=5)
    assert len(records(trace_file)) - before == 2
    assert s.get_json("/v2/trace/setting")[1]["trace_count"] == "0"


def test_model_setting_overrides_global_and_clears(env):
    s, trace_file = env
    reset(s)
    status, doc = s.post_json("/v2/models/add/trace/setting", {"trace_level": ["TIMESTAMPS"], "trace_rate": "1"})
    assert status == 200 and doc["trace_level"] == ["TIMESTAMPS"], doc
    assert s.get_json("/v2/trace/setting")[1]["trace_level"] == ["OFF"]  # the global one is unchanged
    before = len(records(trace_file))
    infer(s, "add", 2)
    infer(s, "other", 2)  # follows the global OFF
    new = records(trace_file)[before:]
    assert [r["model_name"] for r in new] == ["add", "add"]
    # null clears the model's setting: it follows the global one again.
    status, doc = s.post_json("/v2/models/add/trace/setting", {"trace_level": None, "trace_rate": None})
    assert status == 200 and doc["trace_level"] == ["OFF"] and doc["trace_rate"] == "1000", doc
    infer(s, "add", 2)
    assert len(records(trace_file)) == before + 2
    status, doc = s.get_json("/v2/models/missing/trace/setting")
    assert status == 404 and "missing" in doc["error"]


def test_tensors_level_records_inputs_and_outputs(env):
    s, trace_file = env
    reset(s)
    status, doc = s.post_json("/v2/trace/setting", {"trace_level": ["TIMESTAMPS", "TENSORS"], "trace_rate": "1"})
    assert status == 200 and doc["trace_level"] == ["TIMESTAMPS", "TENSORS"], doc
    before = len(records(trace_file))
    status, _ = s.post_json("/v2/models/add/infer", infer_doc(np.array([[1, 2, 3, 4.5]], np.float32)))
    assert status == 200
    new = records(trace_file)[before:]
    assert len(new) == 1 and [t["name"] for t in new[0]["timestamps"]] == STAMPS
    tensors = {t["activity"]: t["tensor"] for t in new[0]["tensors"]}
    assert tensors["TENSOR_QUEUE_INPUT"] == {"name": "x", "data": "1,2,3,4.5", "shape": "1,4", "dtype": "FP32"}
    assert tensors["TENSOR_BACKEND_OUTPUT"] == {"name": "y", "data": "2,4,6,8.5", "shape": "1,4", "dtype": "FP32"}


def test_log_frequency_buffers_records(env):
    s, trace_file = env
    reset(s)
    before = len(records(trace_file))
    status, doc = s.post_json("/v2/trace/setting", {"trace_level": ["TIMESTAMPS"], "trace_rate": "1",
                                                    "log_frequency": "3"})
    assert status == 200, doc
    infer(s, n=2)
    assert len(records(trace_file)) == before  # buffered
    infer(s, n=1)
    assert len(records(trace_file)) == before + 3


def test_trace_setting_over_grpc(env, stub, pb):
    s, trace_file = env
    p, _ = pb
    reset(s)
    resp = stub.TraceSetting(p.TraceSettingRequest())
    got = {k: list(v.value) for k, v in resp.settings.items()}
    assert got["trace_level"] == ["OFF"] and got["trace_file"] == [str(trace_file)]
    req = p.TraceSettingRequest(model_name="add")
    req.settings["trace_level"].value.append("TIMESTAMPS")
    req.settings["trace_rate"].value.append("1")
    resp = stub.TraceSetting(req)
    assert list(resp.settings["trace_level"].value) == ["TIMESTAMPS"]
    before = len(records(trace_file))
    infer(s, "add", 1)
    assert len(records(trace_file)) == before + 1
    bad = p.TraceSettingRequest()
    bad.settings["trace_file"].value.append("/tmp/x")
    with pytest.raises(grpc.RpcError) as e:
        stub.TraceSetting(bad)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "trace_file can only be set with --trace-file" in e.value.details()
    clear = p.TraceSettingRequest(model_name="add")
    clear.settings["trace_level"].SetInParent()  # an empty value list clears the setting
    resp = stub.TraceSetting(clear)
    assert list(resp.settings["trace_level"].value) == ["OFF"]


def test_timestamps_need_a_trace_file(kiln_bin, tmp_path):
    add_model(str(tmp_path / "repo"), "add")
    s = Server(kiln_bin, tmp_path / "repo")
    try:
        status, doc = s.post_json("/v2/trace/setting", {"trace_level": ["TIMESTAMPS"]})
        assert status == 400 and "--trace-file" in doc["error"], doc
    finally:
        s.stop()


def wait_for(pred, timeout=5):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def test_logging_settings_have_real_effect(env):
    s, _ = env
    status, doc = s.get_json("/v2/logging")
    assert status == 200
    assert doc == {"log_file": "", "log_info": True, "log_warning": True, "log_error": True, "log_verbose_level": 0,
                   "log_format": "default"}
    n = len(s.logs)
    infer(s, n=2)
    time.sleep(0.2)
    assert not [r for r in s.logs[n:] if r.get("msg") == "request"]  # verbose 0: no per-request lines
    status, doc = s.post_json("/v2/logging", {"log_verbose_level": 1})
    assert status == 200 and doc["log_verbose_level"] == 1
    n = len(s.logs)
    infer(s, n=2)
    assert wait_for(lambda: len([r for r in s.logs[n:] if r.get("msg") == "request"]) == 2)
    # log_info off: info lines (the per-request ones) are not printed; warnings still are.
    status, doc = s.post_json("/v2/logging", {"log_info": False})
    assert status == 200 and doc["log_info"] is False
    n = len(s.logs)
    infer(s, n=2)
    s.post_json("/v2/models/add/infer", {"inputs": "not a list"})  # a warning line
    assert wait_for(lambda: any(r.get("level") == "warning" for r in s.logs[n:]))
    assert not [r for r in s.logs[n:] if r.get("level") == "info"]
    # ISO8601: whole-second timestamps.
    status, doc = s.post_json("/v2/logging", {"log_info": True, "log_format": "ISO8601"})
    assert status == 200 and doc["log_format"] == "ISO8601"
    n = len(s.logs)
    infer(s, n=1)
    assert wait_for(lambda: any(r.get("msg") == "request" for r in s.logs[n:]))
    ts = [r["ts"] for r in s.logs[n:] if r.get("msg") == "request"][0]
    assert len(ts) == 20 and ts.endswith("Z") and "." not in ts, ts
    status, doc = s.post_json("/v2/logging", {"log_verbose_level": 0, "log_format": "default"})
    assert status == 200


@pytest.mark.parametrize("body,needle", [
    ({"log_info": "yes"}, "'log_info' must be a boolean"),
    ({"log_verbose_level": -1}, "'log_verbose_level' must be a non-negative integer"),
    ({"log_verbose_level": 1.5}, "'log_verbose_level'"),
    ({"log_format": "json"}, "'log_format' must be"),
    ({"log_file": "/tmp/log.txt"}, "log_file cannot be set"),
    ({"log_colour": True}, "unknown log setting 'log_colour'"),
    ([1, 2], "malformed JSON"),
])
def test_logging_rejects_bad_values(env, body, needle):
    s, _ = env
    status, doc = s.post_json("/v2/logging", body)
    assert status == 400, doc
    assert needle in doc["error"], doc
    assert s.get_json("/v2/logging")[1]["log_verbose_level"] == 0


def test_log_settings_over_grpc(env, stub, pb):
    s, _ = env
    p, _ = pb
    resp = stub.LogSettings(p.LogSettingsRequest())
    assert resp.settings["log_info"].bool_param is True
    assert resp.settings["log_format"].string_param == "default"
    req = p.LogSettingsRequest()
    req.settings["log_verbose_level"].uint32_param = 1
    resp = stub.LogSettings(req)
    assert resp.settings["log_verbose_level"].uint32_param == 1
    n = len(s.logs)
    x = np.ones((1, 4), np.float32)
    r = p.ModelInferRequest(model_name="add", id="grpc-7")
    r.inputs.add(name="x", datatype="FP32", shape=[1, 4])
    r.raw_input_contents.append(x.tobytes())
    stub.ModelInfer(r)
    assert wait_for(lambda: any(l.get("msg") == "request" and l.get("request_id") == "grpc-7" for l in s.logs[n:]))
    r.id = "stream-8"
    list(stub.ModelStreamInfer(iter([r]), timeout=30))
    assert wait_for(lambda: any(l.get("msg") == "request" and l.get("request_id") == "stream-8" for l in s.logs[n:]))
    bad = p.LogSettingsRequest()
    bad.settings["log_info"].string_param = "no"
    with pytest.raises(grpc.RpcError) as e:
        stub.LogSettings(bad)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "log_info" in e.value.details()
    req = p.LogSettingsRequest()
    req.settings["log_verbose_level"].uint32_param = 0
    stub.LogSettings(req)


def test_unknown_rpc_is_unimplemented_with_a_message(env):
    s, _ = env
    with grpc.insecure_channel(f"127.0.0.1:{s.grpc_port}") as ch:
        call = ch.unary_unary("/inference.GRPCInferenceService/NoSuchRpc")
        with pytest.raises(grpc.RpcError) as e:
            call(b"", timeout=10)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "NoSuchRpc" in e.value.details()


def test_cuda_shared_memory_rpcs_answer_with_a_reason(env, stub, pb):
    p, _ = pb
    if os.path.exists("/dev/nvidia0"):
        pytest.skip("a GPU is present: the CUDA shared-memory suite covers this host")
    with pytest.raises(grpc.RpcError) as e:
        stub.CudaSharedMemoryRegister(p.CudaSharedMemoryRegisterRequest(name="r", raw_handle=b"\0" * 64,
                                                                        device_id=0, byte_size=64))
    assert e.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAVAILABLE)
    assert "CUDA shared memory is not available" in e.value.details()
    assert len(stub.CudaSharedMemoryStatus(p.CudaSharedMemoryStatusRequest()).regions) == 0
