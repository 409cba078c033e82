"""Compatibility suite: Triton's own Python client (tritonclient 2.73: HTTP, HTTP aio, gRPC, gRPC aio, gRPC
streaming, system and CUDA shared memory, model control, statistics, trace and log settings) against the real
`kiln serve`; every inference result is checked numerically against numpy, and one model against onnxruntime.

Process isolation: tritonclient.grpc, the kserve SDK and tests/server/test_grpc_support.py's generated stubs each
define the protobuf package `inference` under another file name, and protobuf's default descriptor pool refuses the
second definition (TypeError: duplicate symbol 'inference.ServerLiveRequest'). So, in a pytest run over
tests/server this module only defines test_suite_in_own_process, which re-runs this file in a child pytest with
KILN_CLIENT_SUITE set to this file's name; only that child imports tritonclient.grpc and runs the tests below.
Run one test directly:  KILN_CLIENT_SUITE=test_triton_clients.py pytest tests/server/test_triton_clients.py -k NAME
"""
import asyncio
import base64
import gzip
import json
import os
import queue
import time
import uuid
import zlib
from functools import partial

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from serve_util import Server, add_model, run_suite_in_own_process, save_model, string_model, write

IN_OWN_PROCESS = os.environ.get("KILN_CLIENT_SUITE") == os.path.basename(__file__)
if IN_OWN_PROCESS:
    import onnxruntime as ort
    import tritonclient.grpc as grpcclient
    import tritonclient.grpc.aio as grpcaio
    import tritonclient.http as httpclient
    import tritonclient.http.aio as httpaio
    import tritonclient.utils.shared_memory as shm
    from tritonclient.utils import InferenceServerException


def test_suite_in_own_process(kiln_bin):
    """Runs every test of this file in a child pytest (see the module docstring); fails with the child's failures."""
    run_suite_in_own_process(__file__, kiln_bin, timeout=400)


# ---------------------------------------------------------------------------------------------------------------
# Models (onnx.helper) and the server
# ---------------------------------------------------------------------------------------------------------------
ADD_C = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
CTL_C = np.array([10.0, 20.0, 30.0, 40.0], np.float32)
LABELS = [f"class_{i}" for i in range(10)]


def mixed_model(root, name="mixed"):
    """Four typed inputs, [batch, 3] each: h2 = h * 2 (FP16), i2 = i + 7 (INT32), u2 = u + 1 (UINT8), mn = !m."""
    inits = [numpy_helper.from_array(np.array([2.0], np.float16), "two"),
             numpy_helper.from_array(np.array([7], np.int32), "seven"),
             numpy_helper.from_array(np.array([1], np.uint8), "one")]
    nodes = [helper.make_node("Mul", ["h", "two"], ["h2"]), helper.make_node("Add", ["i", "seven"], ["i2"]),
             helper.make_node("Add", ["u", "one"], ["u2"]), helper.make_node("Not", ["m"], ["mn"])]
    vi = helper.make_tensor_value_info
    types = {"h": TensorProto.FLOAT16, "i": TensorProto.INT32, "u": TensorProto.UINT8, "m": TensorProto.BOOL}
    outs = {"h2": "h", "i2": "i", "u2": "u", "mn": "m"}
    g = helper.make_graph(nodes, name, [vi(n, t, ["b", 3]) for n, t in types.items()],
                          [vi(o, types[i], ["b", 3]) for o, i in outs.items()], inits)
    save_model(g, os.path.join(root, name, "1", "model.onnx"))
    write(os.path.join(root, name, "config.pbtxt"), f'name: "{name}"\nmax_batch_size: 8\n')


def mlp_model(root, name="mlp"):
    """A small real-ish classifier: softmax(relu(x W1 + b1) W2 + b2), FP32 [batch, 16] -> prob [batch, 10];
    the output has a label file (classification extension)."""
    rs = np.random.RandomState(7)
    inits = [numpy_helper.from_array(rs.randn(16, 32).astype(np.float32) * 0.5, "w1"),
             numpy_helper.from_array(rs.randn(32).astype(np.float32) * 0.1, "b1"),
             numpy_helper.from_array(rs.randn(32, 10).astype(np.float32) * 0.5, "w2"),
             numpy_helper.from_array(rs.randn(10).astype(np.float32) * 0.1, "b2")]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Add", ["h", "b1"], ["hb"]),
             helper.make_node("Relu", ["hb"], ["r"]), helper.make_node("MatMul", ["r", "w2"], ["l"]),
             helper.make_node("Add", ["l", "b2"], ["lb"]), helper.make_node("Softmax", ["lb"], ["prob"], axis=-1)]
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 16])],
                          [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["b", 10])], inits)
    path = os.path.join(root, name, "1", "model.onnx")
    save_model(g, path)
    write(os.path.join(root, name, "labels.txt"), "\n".join(LABELS) + "\n")
    write(os.path.join(root, name, "config.pbtxt"),
          f'name: "{name}"\nmax_batch_size: 8\n'
          'input [ { name: "x" data_type: TYPE_FP32 dims: [ 16 ] } ]\n'
          'output [ { name: "prob" data_type: TYPE_FP32 dims: [ 10 ] label_filename: "labels.txt" } ]\n')
    return path


def auto_model(root, name="auto"):
    """An ONNX model without config.pbtxt whose first dim is dynamic: y = x + 1, FP32 [N, 4]."""
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    g = helper.make_graph([helper.make_node("Add", ["x", "one"], ["y"])], name,
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], [one])
    save_model(g, os.path.join(root, name, "1", "model.onnx"))


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("triton_clients")
    add_model(str(root))
    add_model(str(root), name="ctl", const=(10.0, 20.0, 30.0, 40.0))  # load/unload/override target
    mixed_model(str(root))
    string_model(str(root))
    auto_model(str(root))
    return root, mlp_model(str(root))


@pytest.fixture(scope="module")
def server(kiln_bin, repo):
    s = Server(kiln_bin, repo[0], "--model-control-mode", "explicit", "--load-model", "*",
               "--trace-file", os.path.join(repo[0], "trace.jsonl"))
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def http_url(server):
    return f"127.0.0.1:{server.http_port}"


@pytest.fixture(scope="module")
def grpc_url(server):
    return f"127.0.0.1:{server.grpc_port}"


@pytest.fixture(scope="module")
def hc(http_url):
    c = httpclient.InferenceServerClient(http_url, concurrency=4)
    yield c
    c.close()


@pytest.fixture(scope="module")
def gc(grpc_url):
    c = grpcclient.InferenceServerClient(grpc_url)
    yield c
    c.close()


def rows(n=3, seed=0):
    return np.random.RandomState(seed).uniform(-5, 5, (n, 4)).astype(np.float32)


def make_input(mod, name, arr, datatype, binary=True):
    """An InferInput of client module `mod` holding arr (HTTP: binary or JSON data; gRPC: raw contents)."""
    i = mod.InferInput(name, list(arr.shape), datatype)
    if mod is httpclient or mod is httpaio:
        i.set_data_from_numpy(arr, binary_data=binary)
    else:
        i.set_data_from_numpy(arr)
    return i


def make_output(mod, name, binary=True, **kw):
    if mod is httpclient or mod is httpaio:
        return mod.InferRequestedOutput(name, binary_data=binary, **kw)
    return mod.InferRequestedOutput(name, **kw)


def add_inputs(mod, x, binary=True):
    return [make_input(mod, "x", x, "FP32", binary)]


def error_message(excinfo):
    return str(excinfo.value.message() if hasattr(excinfo.value, "message") else excinfo.value)


# ---------------------------------------------------------------------------------------------------------------
# Server and model metadata, health, config
# ---------------------------------------------------------------------------------------------------------------
def test_server_live_ready_metadata(hc, gc):
    assert hc.is_server_live() and hc.is_server_ready()
    assert gc.is_server_live() and gc.is_server_ready()
    md = hc.get_server_metadata()
    assert md["name"] == "kiln" and md["version"]
    assert {"binary_tensor_data", "system_shared_memory", "model_repository", "statistics"} <= set(md["extensions"])
    gmd = gc.get_server_metadata()
    assert gmd.name == "kiln" and set(gmd.extensions) == set(md["extensions"])


def test_model_ready_metadata_config(hc, gc):
    assert hc.is_model_ready("add") and gc.is_model_ready("add") and hc.is_model_ready("add", "1")
    assert not hc.is_model_ready("no_such_model") and not gc.is_model_ready("no_such_model")
    md = hc.get_model_metadata("add")
    assert md["name"] == "add" and md["versions"] == ["1"]
    assert md["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
    assert md["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [-1, 4]}]
    gmd = gc.get_model_metadata("add")
    assert gmd.name == "add" and gmd.inputs[0].datatype == "FP32" and list(gmd.inputs[0].shape) == [-1, 4]
    cfg = hc.get_model_config("add")
    assert cfg["name"] == "add" and int(cfg["max_batch_size"]) == 64
    assert cfg["input"][0]["name"] == "x" and cfg["input"][0]["data_type"] == "TYPE_FP32"
    assert "dynamic_batching" in cfg
    gcfg = gc.get_model_config("add").config
    assert gcfg.name == "add" and gcfg.max_batch_size == 64 and gcfg.input[0].dims == [4]
    mixed = gc.get_model_metadata("mixed", as_json=True)
    assert {t["name"]: t["datatype"] for t in mixed["inputs"]} == {"h": "FP16", "i": "INT32", "u": "UINT8",
                                                                   "m": "BOOL"}


def test_auto_complete_config(hc, gc):
    # Feature: auto-complete of max_batch_size + dynamic batching for an ONNX model without config.
    cfg = hc.get_model_config("auto")
    assert int(cfg["max_batch_size"]) == 4, cfg
    assert "dynamic_batching" in cfg, cfg
    assert gc.get_model_config("auto").config.max_batch_size == 4
    assert hc.get_model_metadata("auto")["inputs"][0]["shape"] == [-1, 4]
    x = rows(4, 5)
    r = hc.infer("auto", add_inputs(httpclient, x))
    np.testing.assert_array_equal(r.as_numpy("y"), x + 1)


# ---------------------------------------------------------------------------------------------------------------
# Inference: HTTP sync (binary and JSON), gRPC sync, aio, async_infer, streaming
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("binary_in", [True, False])
@pytest.mark.parametrize("binary_out", [True, False])
def test_http_infer_binary_and_json(hc, binary_in, binary_out):
    x = rows(5, 1)
    out = [httpclient.InferRequestedOutput("y", binary_data=binary_out)]
    r = hc.infer("add", add_inputs(httpclient, x, binary_in), outputs=out, request_id="r-42")
    np.testing.assert_array_equal(r.as_numpy("y"), x + ADD_C)
    assert r.get_response()["id"] == "r-42"
    assert r.get_output("y")["datatype"] == "FP32" and r.get_output("y")["shape"] == [5, 4]


def test_grpc_infer(gc):
    x = rows(7, 2)
    r = gc.infer("add", add_inputs(grpcclient, x), outputs=[grpcclient.InferRequestedOutput("y")],
                 request_id="g-1", model_version="1")
    np.testing.assert_array_equal(r.as_numpy("y"), x + ADD_C)
    resp = r.get_response()
    assert resp.id == "g-1" and resp.model_name == "add" and resp.model_version == "1"


@pytest.mark.parametrize("proto", ["http", "grpc"])
def test_mixed_datatypes(hc, gc, proto):
    """FP16, INT32, UINT8 and BOOL inputs and outputs (HTTP binary and JSON, gRPC raw)."""
    rs = np.random.RandomState(3)
    data = {"h": rs.uniform(-100, 100, (4, 3)).astype(np.float16),
            "i": rs.randint(-1000, 1000, (4, 3)).astype(np.int32),
            "u": rs.randint(0, 255, (4, 3)).astype(np.uint8),  # 254 + 1 stays in range
            "m": rs.rand(4, 3) > 0.5}
    dtypes = {"h": "FP16", "i": "INT32", "u": "UINT8", "m": "BOOL"}
    expect = {"h2": data["h"] * np.float16(2), "i2": data["i"] + 7, "u2": data["u"] + np.uint8(1),
              "mn": ~data["m"]}
    mod, client = (httpclient, hc) if proto == "http" else (grpcclient, gc)
    for binary in ([True, False] if proto == "http" else [True]):
        inputs = [make_input(mod, n, arr, dtypes[n], binary) for n, arr in data.items()]
        r = client.infer("mixed", inputs, outputs=[make_output(mod, o, binary) for o in expect])
        for o, want in expect.items():
            got = r.as_numpy(o)
            assert got.dtype == want.dtype, (o, got.dtype)
            np.testing.assert_array_equal(got, want, err_msg=f"{proto} binary={binary} output {o}")


@pytest.mark.parametrize("proto,binary", [("http", True), ("http", False), ("grpc", True)])
def test_bytes_tensor(hc, gc, proto, binary):
    raw = [b"kiln", b"\x00\xffraw", b"", "naïve".encode()] if binary else [b"kiln", b"a b", b"", "naïve".encode()]
    x = np.array(raw, dtype=np.object_).reshape(2, 2)
    mod, client = (httpclient, hc) if proto == "http" else (grpcclient, gc)
    r = client.infer("strings", [make_input(mod, "x", x, "BYTES", binary)], outputs=[make_output(mod, "y", binary)])
    got = r.as_numpy("y")
    assert got.shape == (2, 2), got
    assert [v if isinstance(v, bytes) else v.encode() for v in got.flatten()] == raw


def test_mlp_matches_onnxruntime(hc, gc, repo):
    x = np.random.RandomState(11).randn(6, 16).astype(np.float32)
    want = ort.InferenceSession(repo[1], providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    for mod, client in ((httpclient, hc), (grpcclient, gc)):
        i = mod.InferInput("x", [6, 16], "FP32")
        i.set_data_from_numpy(x)
        got = client.infer("mlp", [i]).as_numpy("prob")
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_http_async_infer(hc):
    xs = [rows(2, 100 + k) for k in range(8)]
    reqs = [hc.async_infer("add", add_inputs(httpclient, x), request_id=str(k)) for k, x in enumerate(xs)]
    for k, (req, x) in enumerate(zip(reqs, xs)):
        r = req.get_result(timeout=30)
        np.testing.assert_array_equal(r.as_numpy("y"), x + ADD_C)
        assert r.get_response()["id"] == str(k)


def test_grpc_async_infer(gc):
    results = queue.Queue()
    xs = [rows(3, 200 + k) for k in range(8)]
    for k, x in enumerate(xs):
        gc.async_infer("add", add_inputs(grpcclient, x), partial(lambda k, result, error: results.put((k, result, error)), k),
                       request_id=str(k))
    for _ in xs:
        k, r, e = results.get(timeout=30)
        assert e is None, e
        np.testing.assert_array_equal(r.as_numpy("y"), xs[k] + ADD_C)
        assert r.get_response().id == str(k)


def test_grpc_streaming(grpc_url):
    results = queue.Queue()
    xs = [rows(1 + k % 3, 300 + k) for k in range(10)]
    with grpcclient.InferenceServerClient(grpc_url) as c:
        c.start_stream(callback=lambda result, error: results.put((result, error)))
        for k, x in enumerate(xs):
            c.async_stream_infer("add", add_inputs(grpcclient, x), request_id=str(k))
        got = {}
        for _ in xs:
            r, e = results.get(timeout=30)
            assert e is None, e
            got[r.get_response().id] = r.as_numpy("y")
        c.async_stream_infer("no_such_model", add_inputs(grpcclient, xs[0]), request_id="bad")
        r, e = results.get(timeout=30)
        assert r is None and isinstance(e, InferenceServerException) and "no_such_model" in e.message()
        c.stop_stream()
    assert sorted(got) == sorted(map(str, range(10)))
    for k, x in enumerate(xs):
        np.testing.assert_array_equal(got[str(k)], x + ADD_C)


def test_http_aio(http_url):
    async def run():
        async with httpaio.InferenceServerClient(http_url) as c:
            assert await c.is_server_live() and await c.is_server_ready() and await c.is_model_ready("add")
            assert (await c.get_model_metadata("add"))["name"] == "add"
            xs = [rows(2, 400 + k) for k in range(6)]
            rs = await asyncio.gather(*[c.infer("add", add_inputs(httpaio, x)) for x in xs])
            for r, x in zip(rs, xs):
                np.testing.assert_array_equal(r.as_numpy("y"), x + ADD_C)
            with pytest.raises(InferenceServerException) as ei:
                await c.infer("no_such_model", add_inputs(httpaio, xs[0]))
            assert "no_such_model" in error_message(ei)
    asyncio.run(run())


def test_grpc_aio_and_stream(grpc_url):
    async def run():
        async with grpcaio.InferenceServerClient(grpc_url) as c:
            assert await c.is_server_live() and await c.is_server_ready() and await c.is_model_ready("add")
            xs = [rows(3, 500 + k) for k in range(6)]
            rs = await asyncio.gather(*[c.infer("add", add_inputs(grpcaio, x)) for x in xs])
            for r, x in zip(rs, xs):
                np.testing.assert_array_equal(r.as_numpy("y"), x + ADD_C)

            async def requests():
                for k, x in enumerate(xs):
                    yield {"model_name": "add", "inputs": add_inputs(grpcaio, x), "request_id": str(k)}
            got = {}
            async for r, e in c.stream_infer(requests()):
                assert e is None, e
                got[r.get_response().id] = r.as_numpy("y")
                if len(got) == len(xs):
                    break
            for k, x in enumerate(xs):
                np.testing.assert_array_equal(got[str(k)], x + ADD_C)
    asyncio.run(run())


# ---------------------------------------------------------------------------------------------------------------
# System shared memory (tritonclient.utils.shared_memory): inputs AND outputs in shm
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("proto", ["http", "grpc"])
def test_system_shared_memory(hc, gc, proto):
    mod, client = (httpclient, hc) if proto == "http" else (grpcclient, gc)
    x = rows(4, 600)
    nbytes = x.nbytes
    tag = uuid.uuid4().hex[:8]
    ih = shm.create_shared_memory_region(f"in_{tag}", f"/kiln_tc_in_{tag}", nbytes)
    oh = shm.create_shared_memory_region(f"out_{tag}", f"/kiln_tc_out_{tag}", nbytes * 2)
    try:
        shm.set_shared_memory_region(ih, [x])
        client.unregister_system_shared_memory()
        client.register_system_shared_memory(f"in_{tag}", f"/kiln_tc_in_{tag}", nbytes)
        client.register_system_shared_memory(f"out_{tag}", f"/kiln_tc_out_{tag}", nbytes * 2)
        status = client.get_system_shared_memory_status()
        if proto == "http":
            names = {r["name"]: r for r in status}
            assert int(names[f"in_{tag}"]["byte_size"]) == nbytes
        else:
            names = dict(status.regions)
            assert names[f"in_{tag}"].byte_size == nbytes and names[f"in_{tag}"].key == f"/kiln_tc_in_{tag}"
        assert set(names) == {f"in_{tag}", f"out_{tag}"}
        i = mod.InferInput("x", [4, 4], "FP32")
        i.set_shared_memory(f"in_{tag}", nbytes)
        o = mod.InferRequestedOutput("y")
        o.set_shared_memory(f"out_{tag}", nbytes, offset=nbytes)  # second half of the output region
        r = client.infer("add", [i], outputs=[o])
        out = r.get_output("y")  # the output is in the region, not in the response
        params = out["parameters"] if proto == "http" else out.parameters
        if proto == "http":
            assert "data" not in out and "binary_data_size" not in params, out
        else:
            assert all(len(c) == 0 for c in r.get_response().raw_output_contents)
        region = params["shared_memory_region"] if proto == "http" else params["shared_memory_region"].string_param
        assert region == f"out_{tag}"
        got = shm.get_contents_as_numpy(oh, np.float32, [4, 4], offset=nbytes)
        np.testing.assert_array_equal(got, x + ADD_C)
        assert not shm.get_contents_as_numpy(oh, np.float32, [4, 4]).any()  # first half untouched
        # A mixed request: input from shm, output in the response.
        r2 = client.infer("add", [i])
        np.testing.assert_array_equal(r2.as_numpy("y"), x + ADD_C)
        client.unregister_system_shared_memory(f"in_{tag}")
        status = client.get_system_shared_memory_status()
        left = [r["name"] for r in status] if proto == "http" else list(status.regions)
        assert left == [f"out_{tag}"]
        with pytest.raises(InferenceServerException) as ei:  # the input region is gone
            client.infer("add", [i])
        assert f"in_{tag}" in error_message(ei)
        client.unregister_system_shared_memory()
    finally:
        shm.destroy_shared_memory_region(ih)
        shm.destroy_shared_memory_region(oh)


def test_shared_memory_register_errors(hc, gc):
    for client in (hc, gc):
        with pytest.raises(InferenceServerException) as ei:
            client.register_system_shared_memory("nope", "/kiln_tc_does_not_exist", 64)
        assert error_message(ei)


def _gpu_visible():
    """True when this machine has an NVIDIA GPU device (then CUDA shared memory works on a GPU build)."""
    return os.path.exists("/dev/nvidia0") or os.path.exists("/dev/nvidiactl")


def test_cuda_shared_memory_refused_without_gpu(server, gc):
    # Feature: CUDA shared memory endpoints; without a usable GPU (CPU build, or no device) a clean error.
    if _gpu_visible():
        pytest.skip("a GPU is visible: CUDA shared memory is exercised by the GPU suite, not refused")
    body = json.dumps({"raw_handle": {"b64": base64.b64encode(b"x" * 64).decode()}, "device_id": 0,
                       "byte_size": 64})
    status, _, resp = server.request("POST", "/v2/cudasharedmemory/region/r/register", body.encode())
    assert 400 <= status < 500, (status, resp)
    msg = json.loads(resp)["error"]
    assert "cuda" in msg.lower(), msg
    with pytest.raises(InferenceServerException) as ei:
        gc.register_cuda_shared_memory("r", raw_handle=b"x" * 64, device_id=0, byte_size=64)
    msg = error_message(ei)
    assert "cuda" in msg.lower(), msg
    assert "unimplemented" not in ei.value.status().lower(), ei.value.status()
    status, _, resp = server.request("GET", "/v2/cudasharedmemory/status")
    assert status in (200, 400) and resp, (status, resp)


# ---------------------------------------------------------------------------------------------------------------
# Statistics, repository control, errors
# ---------------------------------------------------------------------------------------------------------------
def test_statistics(hc, gc):
    x = rows(3, 700)
    before = hc.get_inference_statistics("add")["model_stats"][0]
    hc.infer("add", add_inputs(httpclient, x))
    gc.infer("add", add_inputs(grpcclient, x))
    after = hc.get_inference_statistics("add", "1")["model_stats"][0]
    assert after["name"] == "add" and after["version"] == "1"
    assert int(after["inference_count"]) - int(before["inference_count"]) == 6
    succ = after["inference_stats"]["success"]
    assert int(succ["count"]) - int(before["inference_stats"]["success"]["count"]) == 2 and int(succ["ns"]) > 0
    gst = gc.get_inference_statistics("add").model_stats[0]
    assert gst.name == "add" and gst.inference_count == int(after["inference_count"])
    allst = hc.get_inference_statistics()["model_stats"]
    assert {"add", "mlp", "mixed"} <= {m["name"] for m in allst}


def test_repository_index_load_unload(hc, gc):
    x = rows(2, 800)
    idx = {m["name"]: m for m in hc.get_model_repository_index()}
    assert {"add", "ctl", "mixed", "mlp", "strings", "auto"} <= set(idx) and idx["ctl"]["state"] == "READY"
    hc.unload_model("ctl")
    assert not hc.is_model_ready("ctl")
    with pytest.raises(InferenceServerException):
        hc.infer("ctl", add_inputs(httpclient, x))
    gidx = {m.name: m for m in gc.get_model_repository_index().models}
    assert gidx["ctl"].state != "READY"
    gc.load_model("ctl")
    assert gc.is_model_ready("ctl")
    np.testing.assert_array_equal(gc.infer("ctl", add_inputs(grpcclient, x)).as_numpy("y"), x + CTL_C)
    gc.unload_model("ctl")
    assert not gc.is_model_ready("ctl")
    hc.load_model("ctl")
    assert hc.is_model_ready("ctl")
    np.testing.assert_array_equal(hc.infer("ctl", add_inputs(httpclient, x)).as_numpy("y"), x + CTL_C)


CTL_OVERRIDE = {"name": "ctl", "max_batch_size": 16,
                "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [4]}],
                "output": [{"name": "y", "data_type": "TYPE_FP32", "dims": [4]}],
                "dynamic_batching": {"max_queue_delay_microseconds": 1234}}


@pytest.mark.parametrize("proto", ["http", "grpc"])
def test_load_with_config_override(hc, gc, proto):
    # Feature: load_model(name, config=JSON) applies the override; invalid JSON is refused.
    client = hc if proto == "http" else gc
    override = dict(CTL_OVERRIDE, max_batch_size=16 if proto == "http" else 24)
    client.load_model("ctl", config=json.dumps(override))
    cfg = hc.get_model_config("ctl")
    assert int(cfg["max_batch_size"]) == override["max_batch_size"], cfg
    assert int(cfg["dynamic_batching"]["max_queue_delay_microseconds"]) == 1234, cfg
    x = rows(3, 900)
    np.testing.assert_array_equal(hc.infer("ctl", add_inputs(httpclient, x)).as_numpy("y"), x + CTL_C)
    with pytest.raises(InferenceServerException) as ei:
        client.load_model("ctl", config="{not json")
    assert "json" in error_message(ei).lower() or "config" in error_message(ei).lower(), error_message(ei)
    client.load_model("ctl")  # back to config.pbtxt
    assert int(hc.get_model_config("ctl")["max_batch_size"]) == 64


@pytest.mark.parametrize("proto", ["http", "grpc"])
def test_load_with_file_override_refused(hc, gc, proto):
    # Feature: file overrides refused with a message naming them.
    client = hc if proto == "http" else gc
    with pytest.raises(InferenceServerException) as ei:
        client.load_model("ctl", config=json.dumps(CTL_OVERRIDE), files={"file:1/model.onnx": b"\x08\x07"})
    msg = error_message(ei).lower()
    assert "file" in msg and ("overrid" in msg or "support" in msg), msg
    assert hc.is_model_ready("ctl")


def test_errors_have_messages(hc, gc):
    x = rows(2, 1000)
    for mod, client in ((httpclient, hc), (grpcclient, gc)):
        with pytest.raises(InferenceServerException) as ei:
            client.infer("no_such_model", add_inputs(mod, x))
        assert "no_such_model" in error_message(ei)
        with pytest.raises(InferenceServerException) as ei:
            client.get_model_metadata("no_such_model")
        assert "no_such_model" in error_message(ei)
        bad = mod.InferInput("x", [2, 5], "FP32")  # wrong inner dim
        bad.set_data_from_numpy(np.zeros((2, 5), np.float32))
        with pytest.raises(InferenceServerException) as ei:
            client.infer("add", [bad])
        assert error_message(ei)
        with pytest.raises(InferenceServerException) as ei:
            client.infer("add", add_inputs(mod, x), outputs=[mod.InferRequestedOutput("nope")])
        assert "nope" in error_message(ei)
    with pytest.raises(InferenceServerException) as ei:
        gc.infer("add", add_inputs(grpcclient, x), model_version="9")
    assert "9" in error_message(ei)


# ---------------------------------------------------------------------------------------------------------------
# Features landing in this change (each names its feature)
# ---------------------------------------------------------------------------------------------------------------
def top3(prob):
    """Triton's classification strings ("score:index:label") of numpy's top 3 per row."""
    idx = np.argsort(-prob, axis=1, kind="stable")[:, :3]
    return idx, np.take_along_axis(prob, idx, axis=1)


@pytest.mark.parametrize("proto", ["http", "grpc"])
def test_classification(hc, gc, proto):
    # Feature: classification extension, InferRequestedOutput(class_count=3) -> BYTES top-k with labels.
    x = np.random.RandomState(12).randn(5, 16).astype(np.float32)
    mod, client = (httpclient, hc) if proto == "http" else (grpcclient, gc)
    i = mod.InferInput("x", [5, 16], "FP32")
    i.set_data_from_numpy(x)
    full = client.infer("mlp", [i]).as_numpy("prob")
    r = client.infer("mlp", [i], outputs=[mod.InferRequestedOutput("prob", class_count=3)])
    got = r.as_numpy("prob")
    assert got is not None and got.shape == (5, 3), got
    assert (r.get_output("prob")["datatype"] if proto == "http" else r.get_output("prob").datatype) == "BYTES"
    idx, scores = top3(full)
    for b in range(5):
        for k in range(3):
            score, index, label = bytes(got[b, k]).decode().split(":")
            assert int(index) == idx[b, k] and label == LABELS[idx[b, k]], (b, k, got[b])
            assert abs(float(score) - scores[b, k]) <= 1e-5 * max(1.0, abs(scores[b, k])), (score, scores[b, k])


@pytest.mark.parametrize("proto", ["http", "grpc"])
def test_priority_without_levels(hc, gc, proto):
    # Feature: priority on a model without priority levels maps to the default level.
    mod, client = (httpclient, hc) if proto == "http" else (grpcclient, gc)
    x = rows(2, 1100)
    for p in (0, 1, 5):
        np.testing.assert_array_equal(client.infer("add", add_inputs(mod, x), priority=p).as_numpy("y"), x + ADD_C)


@pytest.mark.parametrize("algo", ["gzip", "deflate"])
def test_http_compression(hc, server, algo):
    # Feature: HTTP request and response compression.
    x = rows(48, 1200)  # replies of 1 KiB or more are compressed
    for binary in (True, False):
        r = hc.infer("add", add_inputs(httpclient, x, binary), request_compression_algorithm=algo,
                     response_compression_algorithm=algo,
                     outputs=[httpclient.InferRequestedOutput("y", binary_data=binary)])
        np.testing.assert_array_equal(r.as_numpy("y"), x + ADD_C)
    # The server really compresses when Accept-Encoding allows it.
    doc = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [48, 4],
                                  "data": x.flatten().tolist()}]}).encode()
    status, headers, body = server.request("POST", "/v2/models/add/infer", doc, {"Accept-Encoding": algo})
    assert status == 200, body
    enc = {k.lower(): v for k, v in headers.items()}.get("content-encoding")
    assert enc == algo, headers
    plain = gzip.decompress(body) if algo == "gzip" else zlib.decompress(body)
    out = json.loads(plain)["outputs"][0]
    np.testing.assert_array_equal(np.array(out["data"], np.float32).reshape(48, 4), x + ADD_C)


def test_trace_settings_round_trip(hc, gc, repo):
    # Feature: trace extension, v2/trace/setting and gRPC TraceSetting.
    s = hc.update_trace_settings(settings={"trace_level": ["TIMESTAMPS"], "trace_rate": "3", "trace_count": "-1",
                                           "log_frequency": "0"})
    assert s["trace_level"] == ["TIMESTAMPS"] and s["trace_rate"] == "3", s
    assert hc.get_trace_settings()["trace_rate"] == "3"
    gs = gc.get_trace_settings(as_json=True)["settings"]
    assert gs["trace_rate"]["value"] == ["3"] and gs["trace_level"]["value"] == ["TIMESTAMPS"], gs
    gc.update_trace_settings(settings={"trace_rate": "5"})
    assert hc.get_trace_settings()["trace_rate"] == "5"
    ms = hc.update_trace_settings(model_name="add", settings={"trace_rate": "7"})
    assert ms["trace_rate"] == "7" and hc.get_trace_settings(model_name="add")["trace_rate"] == "7"
    assert hc.get_trace_settings()["trace_rate"] == "5"  # the global setting is unchanged
    # Real effect: with rate 1 on "add", a request is written to --trace-file with its timestamps.
    hc.update_trace_settings(model_name="add", settings={"trace_rate": "1", "log_frequency": "0"})
    x = rows(2, 1300)
    np.testing.assert_array_equal(hc.infer("add", add_inputs(httpclient, x), request_id="traced-1").as_numpy("y"),
                                  x + ADD_C)
    hc.update_trace_settings(settings={"trace_level": ["OFF"], "trace_rate": "1000"})
    hc.update_trace_settings(model_name="add", settings={"trace_rate": None, "log_frequency": None})
    assert hc.get_trace_settings()["trace_level"] == ["OFF"]
    assert hc.get_trace_settings(model_name="add")["trace_rate"] == "1000"  # follows the global setting again
    deadline = time.time() + 10  # the record may be appended just after the reply was sent
    while True:
        path = os.path.join(repo[0], "trace.jsonl")
        with open(path) if os.path.exists(path) else open(os.devnull) as f:
            records = [json.loads(line) for line in f if line.strip()]
        rec = [r for r in records if r.get("request_id") == "traced-1"]
        if rec or time.time() > deadline:
            break
        time.sleep(0.05)
    assert len(rec) == 1 and rec[0]["model_name"] == "add", records
    stamps = {t["name"]: int(t["ns"]) for t in rec[0]["timestamps"]}
    assert stamps["REQUEST_START"] <= stamps["COMPUTE_START"] <= stamps["COMPUTE_END"] <= stamps["REQUEST_END"]


def test_log_settings_round_trip(hc, gc):
    # Feature: logging extension, v2/logging and gRPC LogSettings.
    s = hc.update_log_settings({"log_verbose_level": 1, "log_info": True, "log_warning": True, "log_error": True})
    assert int(s["log_verbose_level"]) == 1 and s["log_info"] is True, s
    assert int(hc.get_log_settings()["log_verbose_level"]) == 1
    g = gc.get_log_settings().settings
    assert g["log_verbose_level"].uint32_param == 1 and g["log_info"].bool_param, g
    gc.update_log_settings({"log_verbose_level": 0})
    assert int(hc.get_log_settings()["log_verbose_level"]) == 0
    assert gc.get_log_settings().settings["log_verbose_level"].uint32_param == 0
    with pytest.raises(InferenceServerException) as ei:
        hc.update_log_settings({"log_verbose_level": "loud"})
    assert "log_verbose_level" in error_message(ei)


# The parent run collects only test_suite_in_own_process, the child run every other test.
for _name in [n for n in globals() if n.startswith("test_") and (n == "test_suite_in_own_process") == IN_OWN_PROCESS]:
    del globals()[_name]
