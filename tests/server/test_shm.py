"""kiln serve's system shared-memory extension over HTTP and gRPC: register/status/unregister, infer with inputs
and outputs in shared memory (results equal the ordinary path), every rejection as 400 with a message, unregister
while requests use a region, kiln perf --shared-memory system; also evhttp's own 413 as JSON and a config with
Triton fields Kiln accepts (optimization, parameters, backend, ...)."""
import json
import os
import subprocess
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import shared_memory

import grpc
import numpy as np
import pytest

from serve_util import Server, add_model, infer_doc, output, write
from test_grpc_support import grpc_stubs

ROW = 3 * 8 * 8  # the image model's elements per batch row


def image_model(root, name="image", config_extra=""):
    """y = x * 2, FP32 [batch, 3, 8, 8]: a small stand-in for an image input."""
    import onnx
    from onnx import TensorProto, helper
    from serve_util import save_model
    two = helper.make_tensor("two", TensorProto.FLOAT, [1], [2.0])
    g = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["y"])], name,
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 3, 8, 8])], [two])
    save_model(g, os.path.join(root, name, "1", "model.onnx"))
    write(os.path.join(root, name, "config.pbtxt"),
          f'name: "{name}"\nmax_batch_size: 16\n'
          'input [ { name: "x" data_type: TYPE_FP32 dims: [ 3, 8, 8 ] } ]\n'
          'output [ { name: "y" data_type: TYPE_FP32 dims: [ 3, 8, 8 ] } ]\n'
          'dynamic_batching { max_queue_delay_microseconds: 500 }\n' + config_extra)


TRITON_FIELDS = ('platform: "onnxruntime_onnx"\nbackend: "onnxruntime"\n'
                 'parameters { key: "k" value: { string_value: "v" } }\n'
                 'optimization { cuda { graphs: false } input_pinned_memory { enable: true } '
                 'output_pinned_memory { enable: false } execution_accelerators { gpu_execution_accelerator '
                 '[ { name: "tensorrt" parameters { key: "precision_mode" value: "FP16" } } ] } }\n'
                 'model_transaction_policy { decoupled: false }\nresponse_cache { enable: false }\n')


@pytest.fixture(scope="module")
def server(kiln_bin, tmp_path_factory):
    repo = tmp_path_factory.mktemp("shm")
    add_model(repo)
    image_model(repo)
    image_model(repo, "triton_fields", TRITON_FIELDS)
    s = Server(kiln_bin, repo, "--http-max-body-size", "262144")
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    return grpc_stubs(tmp_path_factory.mktemp("stubs"))


@pytest.fixture(scope="module")
def stub(server, pb):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    yield pb[1].GRPCInferenceServiceStub(channel)
    channel.close()


class Region:
    """A POSIX shm object (key "/name") and the server-side region name registered for it."""

    def __init__(self, size):
        self.key_name = "kiln_test_" + uuid.uuid4().hex[:12]
        self.shm = shared_memory.SharedMemory(name=self.key_name, create=True, size=size)
        self.key = "/" + self.key_name
        self.name = "r_" + self.key_name

    def array(self, shape, offset=0, dtype=np.float32):
        return np.ndarray(shape, dtype=dtype, buffer=self.shm.buf, offset=offset)

    def close(self):
        self.shm.close()
        self.shm.unlink()


@pytest.fixture
def region():
    regions = []

    def make(size=1 << 16):
        r = Region(size)
        regions.append(r)
        return r
    yield make
    for r in regions:
        r.close()


def register(server, r, offset=0, byte_size=None, name=None):
    doc = {"key": r.key, "offset": offset, "byte_size": r.shm.size - offset if byte_size is None else byte_size}
    return server.post_json(f"/v2/systemsharedmemory/region/{name or r.name}/register", doc)


def unregister(server, name=None):
    path = f"/v2/systemsharedmemory/region/{name}/unregister" if name else "/v2/systemsharedmemory/unregister"
    return server.post_json(path, {})


def shm_infer_doc(in_region, out_region, rows, in_offset=0, out_offset=0, in_size=None, out_size=None, model="image"):
    nbytes = rows * ROW * 4
    return {"inputs": [{"name": "x", "datatype": "FP32", "shape": [rows, 3, 8, 8],
                        "parameters": {"shared_memory_region": in_region, "shared_memory_offset": in_offset,
                                       "shared_memory_byte_size": nbytes if in_size is None else in_size}}],
            "outputs": [{"name": "y", "parameters": {"shared_memory_region": out_region,
                                                     "shared_memory_offset": out_offset,
                                                     "shared_memory_byte_size": nbytes if out_size is None
                                                     else out_size}}]}


def test_server_metadata_lists_extension(server):
    status, doc = server.get_json("/v2")
    assert status == 200 and "system_shared_memory" in doc["extensions"]


def test_register_status_unregister_http(server, region):
    a, b = region(4096), region(8192)
    assert register(server, a)[0] == 200
    assert register(server, b, offset=4096, byte_size=4096)[0] == 200
    status, doc = server.get_json("/v2/systemsharedmemory/status")
    assert status == 200
    by_name = {d["name"]: d for d in doc}
    assert by_name[a.name] == {"name": a.name, "key": a.key, "offset": 0, "byte_size": 4096}
    assert by_name[b.name]["offset"] == 4096 and by_name[b.name]["byte_size"] == 4096
    status, doc = server.get_json(f"/v2/systemsharedmemory/region/{b.name}/status")
    assert status == 200 and [d["name"] for d in doc] == [b.name]
    status, doc = register(server, a)  # the same name twice
    assert status == 400 and "already registered" in doc["error"]
    assert unregister(server, a.name)[0] == 200
    status, doc = server.get_json(f"/v2/systemsharedmemory/region/{a.name}/status")
    assert status == 400 and "unable to find" in doc["error"]
    assert unregister(server)[0] == 200  # all
    assert server.get_json("/v2/systemsharedmemory/status") == (200, [])


@pytest.mark.parametrize("key,needle", [("/dev/sda", "POSIX shared memory name"), ("../etc", "POSIX"),
                                        ("noslash", "POSIX"), ("/kiln_does_not_exist_x", "cannot open")])
def test_bad_keys_are_400(server, key, needle):
    status, doc = server.post_json("/v2/systemsharedmemory/region/bad/register",
                                   {"key": key, "offset": 0, "byte_size": 16})
    assert status == 400 and needle in doc["error"], doc


def test_out_of_range_register_is_400(server, region):
    r = region(4096)
    status, doc = register(server, r, offset=0, byte_size=8192)
    assert status == 400 and "exceeds the size" in doc["error"], doc
    status, doc = register(server, r, offset=5000, byte_size=1)
    assert status == 400 and "exceeds the size" in doc["error"], doc
    status, doc = register(server, r, offset=0, byte_size=0)
    assert status == 400 and "positive" in doc["error"], doc
    status, doc = server.post_json(f"/v2/systemsharedmemory/region/{r.name}/register", {"key": r.key, "byte_size": -1})
    assert status == 400
    assert server.get_json(f"/v2/systemsharedmemory/region/{r.name}/status")[0] == 400


def test_infer_shm_inputs_and_outputs_match_plain_path(server, region):
    rows = 4
    nbytes = rows * ROW * 4
    inp, out = region(nbytes + 4096), region(2 * nbytes + 4096)
    x = np.random.RandomState(0).rand(rows, 3, 8, 8).astype(np.float32)
    inp.array(x.shape, offset=128)[:] = x
    assert register(server, inp)[0] == 200
    assert register(server, out, offset=4096, byte_size=2 * nbytes)[0] == 200
    try:
        status, doc = server.post_json("/v2/models/image/infer", shm_infer_doc(inp.name, out.name, rows, in_offset=128,
                                                                               out_offset=nbytes))
        assert status == 200, doc
        o = doc["outputs"][0]
        assert "data" not in o and o["shape"] == [rows, 3, 8, 8]
        assert o["parameters"]["shared_memory_region"] == out.name
        assert o["parameters"]["shared_memory_byte_size"] == nbytes
        got = out.array(x.shape, offset=4096 + nbytes).copy()
        status, plain = server.post_json("/v2/models/image/infer", infer_doc(x))
        assert status == 200
        np.testing.assert_array_equal(got, output(plain).astype(np.float32))
        np.testing.assert_array_equal(got, x * 2)
        # shm input with an ordinary (JSON) output
        doc = shm_infer_doc(inp.name, out.name, rows, in_offset=128)
        del doc["outputs"]
        status, mixed = server.post_json("/v2/models/image/infer", doc)
        assert status == 200
        np.testing.assert_array_equal(output(mixed).astype(np.float32), x * 2)
    finally:
        unregister(server, inp.name)
        unregister(server, out.name)


def test_infer_shm_errors_are_400(server, region):
    rows = 2
    nbytes = rows * ROW * 4
    inp, out = region(nbytes), region(nbytes)
    assert register(server, inp)[0] == 200
    assert register(server, out)[0] == 200
    try:
        cases = [
            (shm_infer_doc("nope", out.name, rows), "unable to find"),
            (shm_infer_doc(inp.name, out.name, rows, in_offset=8), "exceeds the region"),
            (shm_infer_doc(inp.name, out.name, rows, in_size=nbytes - 4), "needs"),
            (shm_infer_doc(inp.name, out.name, rows, out_size=nbytes - 4), "shared_memory_byte_size"),
            (shm_infer_doc(inp.name, out.name, rows, out_offset=4, out_size=nbytes), "exceeds the region"),
            (shm_infer_doc(inp.name, "nope", rows), "unable to find"),
        ]
        for doc, needle in cases:
            status, body = server.post_json("/v2/models/image/infer", doc)
            assert status == 400 and needle in body["error"], (doc, body)
        doc = shm_infer_doc(inp.name, out.name, rows)
        doc["inputs"][0]["data"] = [0.0] * (rows * ROW)
        status, body = server.post_json("/v2/models/image/infer", doc)
        assert status == 400 and "both" in body["error"]
        doc = shm_infer_doc(inp.name, out.name, rows)
        doc["inputs"][0]["parameters"]["shared_memory_byte_size"] = "many"
        assert server.post_json("/v2/models/image/infer", doc)[0] == 400
    finally:
        unregister(server, inp.name)
        unregister(server, out.name)
    # unregistered now
    status, body = server.post_json("/v2/models/image/infer", shm_infer_doc(inp.name, out.name, rows))
    assert status == 400 and "unable to find" in body["error"]


def test_unregister_during_load(server, region):
    rows = 1
    nbytes = ROW * 4
    inp = region(nbytes)
    inp.array((1, 3, 8, 8))[:] = 1.5
    assert register(server, inp)[0] == 200
    doc = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [rows, 3, 8, 8],
                       "parameters": {"shared_memory_region": inp.name, "shared_memory_byte_size": nbytes}}]}
    stop = threading.Event()
    codes = []

    def client():
        while not stop.is_set():
            status, body = server.post_json("/v2/models/image/infer", doc)
            codes.append(status)
            if status == 200:
                assert np.all(output(body) == 3.0)
            else:
                assert status == 400 and "unable to find" in body["error"]

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(client) for _ in range(4)]
        for _ in range(20):
            assert unregister(server, inp.name)[0] == 200
            assert register(server, inp)[0] == 200
        assert unregister(server, inp.name)[0] == 200
        stop.set()
        for f in futures:
            f.result()
    assert 200 in codes and server.get_json("/v2/health/live")[0] == 200


def test_grpc_register_status_infer_unregister(server, stub, pb, region):
    pbm = pb[0]
    rows = 3
    nbytes = rows * ROW * 4
    inp, out = region(nbytes), region(nbytes)
    x = np.random.RandomState(1).rand(rows, 3, 8, 8).astype(np.float32)
    inp.array(x.shape)[:] = x
    for r in (inp, out):
        stub.SystemSharedMemoryRegister(pbm.SystemSharedMemoryRegisterRequest(name=r.name, key=r.key, offset=0,
                                                                               byte_size=nbytes))
    st = stub.SystemSharedMemoryStatus(pbm.SystemSharedMemoryStatusRequest())
    assert st.regions[inp.name].key == inp.key and st.regions[out.name].byte_size == nbytes
    req = pbm.ModelInferRequest(model_name="image")
    t = req.inputs.add(name="x", datatype="FP32", shape=[rows, 3, 8, 8])
    t.parameters["shared_memory_region"].string_param = inp.name
    t.parameters["shared_memory_byte_size"].int64_param = nbytes
    o = req.outputs.add(name="y")
    o.parameters["shared_memory_region"].string_param = out.name
    o.parameters["shared_memory_byte_size"].int64_param = nbytes
    resp = stub.ModelInfer(req)
    assert resp.outputs[0].parameters["shared_memory_region"].string_param == out.name
    assert len(resp.raw_output_contents) in (0, 1) and all(len(c) == 0 for c in resp.raw_output_contents)
    np.testing.assert_array_equal(out.array(x.shape), x * 2)
    with pytest.raises(grpc.RpcError) as e:
        stub.SystemSharedMemoryRegister(pbm.SystemSharedMemoryRegisterRequest(name="g_bad", key="/a/b", byte_size=4))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "POSIX" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        stub.SystemSharedMemoryStatus(pbm.SystemSharedMemoryStatusRequest(name="g_missing"))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    stub.SystemSharedMemoryUnregister(pbm.SystemSharedMemoryUnregisterRequest(name=inp.name))
    with pytest.raises(grpc.RpcError) as e:
        stub.ModelInfer(req)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "unable to find" in e.value.details()
    stub.SystemSharedMemoryUnregister(pbm.SystemSharedMemoryUnregisterRequest())
    assert len(stub.SystemSharedMemoryStatus(pbm.SystemSharedMemoryStatusRequest()).regions) == 0


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_perf_shared_memory_system(kiln_bin, server, protocol):
    port = server.http_port if protocol == "http" else server.grpc_port
    r = subprocess.run([kiln_bin, "perf", "-m", "image", "-u", f"127.0.0.1:{port}", "-i", protocol,
                        "--shared-memory", "system", "--concurrency-range", "2", "-b", "2",
                        "-p", "500", "-r", "3", "-s", "50"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Concurrency: 2, throughput:" in r.stdout
    # the client unregistered its regions and unlinked its objects
    assert server.get_json("/v2/systemsharedmemory/status") == (200, [])
    assert not [f for f in os.listdir("/dev/shm") if f.startswith(f"kiln_perf_")]


def test_oversized_body_is_json_413(server):
    body = json.dumps(infer_doc(np.zeros((64, 4), np.float32))).encode() + b" " * 270000
    status, headers, raw = server.request("POST", "/v2/models/add/infer", body)
    assert status == 413
    assert headers.get("Content-Type") == "application/json"
    assert "limit" in json.loads(raw)["error"]
    assert server.post_json("/v2/models/add/infer", infer_doc([[1, 2, 3, 4]]))[0] == 200


def test_config_with_triton_fields_loads(server):
    status, doc = server.post_json("/v2/models/triton_fields/infer", infer_doc(np.ones((1, 3, 8, 8), np.float32)))
    assert status == 200, doc
    status, cfg = server.get_json("/v2/models/triton_fields/config")
    assert status == 200
    assert any("accepted but ignored" in str(rec.get("msg", "")) and "triton_fields" in str(rec.get("msg", ""))
               for rec in server.logs)


def test_unknown_config_field_still_fails(kiln_bin, tmp_path):
    image_model(tmp_path, "bad_field", "optimization { no_such_field: 1 }\n")
    s = Server(kiln_bin, tmp_path)
    try:
        status, doc = s.post_json("/v2/repository/index", {})
        entry = [e for e in doc if e["name"] == "bad_field"][0]
        assert entry["state"] == "UNAVAILABLE"
        assert "config.pbtxt" in entry["reason"] and "no_such_field" in entry["reason"], entry
    finally:
        s.stop()
