"""kiln serve's shared memory under hostile clients: a region truncated after registration (input and output side,
before and after the request was resolved) is a clean 400 and the server keeps serving; caps on registered regions
and bytes; --shared-memory, --shm-key-prefix, same-uid and no-symlink rules; the loud non-loopback warning; and the
CUDA shared-memory routes on a host without a GPU (or a build without CUDA)."""
import mmap
import os
import threading
import time
import uuid

import numpy as np
import pytest

from serve_util import Server, add_model

ROWS, COLS = 2, 4
NBYTES = ROWS * COLS * 4
SLOW_QUEUE = ('name: "slowq"\nmax_batch_size: 64\n'
              'input [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
              'output [ { name: "y" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
              'dynamic_batching { max_queue_delay_microseconds: 400000 }\n')


class Obj:
    """A POSIX shm object /dev/shm/<name> created by the test (same uid as the server)."""

    def __init__(self, size, prefix="kiln_h5_"):
        self.key_name = prefix + uuid.uuid4().hex[:12]
        self.path = "/dev/shm/" + self.key_name
        self.fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        os.ftruncate(self.fd, size)
        self.size = size
        self.key = "/" + self.key_name

    def write(self, data, offset=0):
        os.pwrite(self.fd, data, offset)

    def read(self, n, offset=0):
        return os.pread(self.fd, n, offset)

    def truncate(self, size=0):
        os.ftruncate(self.fd, size)

    def close(self):
        os.close(self.fd)
        if os.path.lexists(self.path):
            os.unlink(self.path)


@pytest.fixture
def objs():
    made = []

    def make(size=4096, **kw):
        o = Obj(size, **kw)
        made.append(o)
        return o
    yield make
    for o in made:
        o.close()


def register(server, name, key, byte_size, offset=0):
    return server.post_json(f"/v2/systemsharedmemory/region/{name}/register",
                            {"key": key, "offset": offset, "byte_size": byte_size})


def unregister_all(server):
    assert server.post_json("/v2/systemsharedmemory/unregister", {})[0] == 200


def infer(server, model, in_region=None, out_region=None, x=None):
    inp = {"name": "x", "datatype": "FP32", "shape": [ROWS, COLS]}
    if in_region:
        inp["parameters"] = {"shared_memory_region": in_region, "shared_memory_byte_size": NBYTES}
    else:
        inp["data"] = np.asarray(x, np.float32).flatten().tolist()
    doc = {"inputs": [inp]}
    if out_region:
        doc["outputs"] = [{"name": "y", "parameters": {"shared_memory_region": out_region,
                                                       "shared_memory_byte_size": NBYTES}}]
    return server.post_json(f"/v2/models/{model}/infer", doc)


def assert_serving(server):
    """The process is alive and a plain request is answered correctly."""
    assert server.proc.poll() is None, "kiln serve died"
    x = np.arange(ROWS * COLS, dtype=np.float32).reshape(ROWS, COLS)
    status, doc = infer(server, "add", x=x)
    assert status == 200, doc
    got = np.array(doc["outputs"][0]["data"], np.float32).reshape(ROWS, COLS)
    np.testing.assert_array_equal(got, x + np.array([1, 2, 3, 4], np.float32))


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("shm_hardening")
    add_model(root)
    add_model(root, "slowq", config=SLOW_QUEUE)
    return root


@pytest.fixture(scope="module")
def server(kiln_bin, repo):
    s = Server(kiln_bin, repo, "--host", "127.0.0.1")
    yield s
    assert s.stop() == 0


# ---- 1. truncation ------------------------------------------------------------------------------------------

def test_truncated_input_region_is_a_clean_400(server, objs):
    o = objs()
    x = np.arange(ROWS * COLS, dtype=np.float32)
    o.write(x.tobytes())
    assert register(server, "tin", o.key, NBYTES)[0] == 200
    status, doc = infer(server, "add", in_region="tin")
    assert status == 200, doc
    o.truncate(0)
    status, doc = infer(server, "add", in_region="tin")
    assert status == 400, doc
    assert "shared memory region 'tin'" in doc["error"] and "no longer backed" in doc["error"], doc
    assert_serving(server)
    unregister_all(server)


def test_truncated_output_region_is_a_clean_400(server, objs):
    o = objs()
    assert register(server, "tout", o.key, NBYTES)[0] == 200
    x = np.ones((ROWS, COLS), np.float32)
    status, doc = infer(server, "add", out_region="tout", x=x)
    assert status == 200, doc
    got = np.frombuffer(o.read(NBYTES), np.float32).reshape(ROWS, COLS)
    np.testing.assert_array_equal(got, x + np.array([1, 2, 3, 4], np.float32))
    o.truncate(0)
    status, doc = infer(server, "add", out_region="tout", x=x)
    assert status == 400, doc
    assert "shared memory region 'tout'" in doc["error"] and "no longer backed" in doc["error"], doc
    assert_serving(server)
    unregister_all(server)


@pytest.mark.parametrize("side", ["input", "output"])
def test_truncated_while_queued_is_a_clean_400(server, objs, side):
    """The object shrinks after the request was resolved (it waits 400 ms in the batcher's queue): the copy into
    the batch (input) or into the region (output) faults and must be answered 400, not kill the server."""
    o = objs()
    x = np.arange(ROWS * COLS, dtype=np.float32)
    o.write(x.tobytes())
    assert register(server, "tq", o.key, NBYTES)[0] == 200
    result = {}

    def run():
        if side == "input":
            result["r"] = infer(server, "slowq", in_region="tq")
        else:
            result["r"] = infer(server, "slowq", out_region="tq", x=x)
    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.15)  # resolved and queued; the batch runs at 400 ms
    o.truncate(0)
    t.join(30)
    status, doc = result["r"]
    assert status == 400, doc
    assert "shared memory region 'tq'" in doc["error"] and "no longer backed" in doc["error"], doc
    assert_serving(server)
    unregister_all(server)


def test_truncated_input_fails_only_its_own_request(server, objs):
    """A request whose input region is truncated while it waits shares its batch with two plain requests: only it
    fails; the others run (the batch is re-formed without it) and get correct results."""
    o = objs()
    o.write(np.arange(ROWS * COLS, dtype=np.float32).tobytes())
    assert register(server, "tq2", o.key, NBYTES)[0] == 200
    results = {}
    xs = {k: np.full((ROWS, COLS), k, np.float32) for k in (5, 7)}

    def run(key):
        results[key] = infer(server, "slowq", in_region="tq2") if key == "shm" else infer(server, "slowq", x=xs[key])
    threads = [threading.Thread(target=run, args=(k,)) for k in ("shm", 5, 7)]
    for t in threads:
        t.start()
    time.sleep(0.15)  # all three queued; their batch runs at 400 ms
    o.truncate(0)
    for t in threads:
        t.join(30)
    status, doc = results["shm"]
    assert status == 400 and "no longer backed" in doc["error"], doc
    for k in (5, 7):
        status, doc = results[k]
        assert status == 200, doc
        got = np.array(doc["outputs"][0]["data"], np.float32).reshape(ROWS, COLS)
        np.testing.assert_array_equal(got, xs[k] + np.array([1, 2, 3, 4], np.float32))
    assert_serving(server)
    unregister_all(server)


def test_truncation_race_never_crashes(server, objs):
    """Truncation at arbitrary moments around many requests: each answer is 200 (correct) or 400, never a crash."""
    o = objs(1 << 16)
    x = np.arange(ROWS * COLS, dtype=np.float32)
    for i in range(20):
        o.truncate(1 << 16)
        o.write(x.tobytes())
        assert register(server, f"race{i}", o.key, NBYTES)[0] == 200
        timer = threading.Timer(0.0005 * (i % 5), o.truncate, args=(0,))
        timer.start()
        status, doc = infer(server, "add", in_region=f"race{i}")
        timer.join()
        assert status in (200, 400), doc
        if status == 200:
            np.testing.assert_array_equal(np.array(doc["outputs"][0]["data"], np.float32),
                                          x + np.tile(np.array([1, 2, 3, 4], np.float32), ROWS))
        else:
            assert "no longer backed" in doc["error"], doc
    assert_serving(server)
    unregister_all(server)


# ---- 2. caps ---------------------------------------------------------------------------------------------------

def test_default_region_cap_keeps_status_working(server, objs):
    """~65k registrations exhausted the process's memory maps; the default cap is 1024 regions."""
    o = objs(4096)
    codes = [register(server, f"many{i}", o.key, 4096)[0] for i in range(1030)]
    assert codes.count(200) == 1024 and codes[1024:] == [400] * 6
    status, doc = register(server, "one_more", o.key, 4096)
    assert status == 400 and "--shm-max-regions" in doc["error"], doc
    status, doc = server.get_json("/v2/systemsharedmemory/status")
    assert status == 200 and len(doc) == 1024
    unregister_all(server)
    assert register(server, "after", o.key, 4096)[0] == 200
    unregister_all(server)


@pytest.fixture(scope="module")
def capped(kiln_bin, repo):
    s = Server(kiln_bin, repo, "--shm-max-regions", "4", "--shm-max-bytes", str(1 << 20))  # default host 0.0.0.0
    yield s
    assert s.stop() == 0


def test_region_and_byte_caps(capped, objs):
    o = objs(1 << 21)
    for i in range(4):
        assert register(capped, f"c{i}", o.key, 4096)[0] == 200
    status, doc = register(capped, "c4", o.key, 4096)
    assert status == 400 and "--shm-max-regions (4)" in doc["error"], doc
    unregister_all(capped)
    status, doc = register(capped, "big", o.key, (1 << 20) + 1)
    assert status == 400 and "--shm-max-bytes" in doc["error"], doc
    assert register(capped, "half1", o.key, 600000)[0] == 200
    status, doc = register(capped, "half2", o.key, 600000)
    assert status == 400 and "--shm-max-bytes" in doc["error"], doc
    unregister_all(capped)
    assert register(capped, "half2", o.key, 600000)[0] == 200
    unregister_all(capped)


def test_nonloopback_warning(capped, server):
    warn = lambda s: [r for r in s.logs if r.get("level") == "warning" and "NON-LOOPBACK" in r.get("msg", "")]
    assert warn(capped), capped.logs  # --host 0.0.0.0 (the default) with shared memory enabled
    assert not warn(server)           # --host 127.0.0.1


# ---- 3. trust ---------------------------------------------------------------------------------------------------

def test_shared_memory_none(kiln_bin, repo, objs):
    s = Server(kiln_bin, repo, "--shared-memory", "none", "--host", "0.0.0.0")
    try:
        o = objs()
        status, doc = register(s, "n", o.key, 4096)
        assert status == 400 and doc["error"] == "shared memory is disabled on this server", doc
        status, doc = s.post_json("/v2/cudasharedmemory/region/n/register",
                                  {"raw_handle": {"b64": "AA=="}, "device_id": 0, "byte_size": 64})
        assert status == 400 and "disabled" in doc["error"], doc
        status, doc = s.get_json("/v2")
        assert status == 200
        assert "system_shared_memory" not in doc["extensions"] and "cuda_shared_memory" not in doc["extensions"]
        assert not [r for r in s.logs if "NON-LOOPBACK" in r.get("msg", "")]  # nothing to warn about
    finally:
        assert s.stop() == 0


def test_key_prefix(kiln_bin, repo, objs):
    s = Server(kiln_bin, repo, "--host", "127.0.0.1", "--shm-key-prefix", "kiln_ok_")
    try:
        other, ok = objs(), objs(prefix="kiln_ok_")
        status, doc = register(s, "p1", other.key, 4096)
        assert status == 400 and 'does not start with "/kiln_ok_"' in doc["error"], doc
        assert register(s, "p2", ok.key, 4096)[0] == 200
        status, doc = s.get_json("/v2")
        assert "system_shared_memory" in doc["extensions"]
    finally:
        assert s.stop() == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create an object owned by another uid")
def test_object_of_another_uid_is_refused(server, objs):
    o = objs()
    os.fchown(o.fd, 65534, 65534)
    status, doc = register(server, "foreign", o.key, 4096)
    assert status == 400 and "owned by uid 65534" in doc["error"], doc


def test_symlink_and_non_regular_objects_are_refused(server, objs):
    target = objs()
    link = "kiln_h5_link_" + uuid.uuid4().hex[:8]
    os.symlink(target.path, "/dev/shm/" + link)
    d = "kiln_h5_dir_" + uuid.uuid4().hex[:8]
    os.mkdir("/dev/shm/" + d)
    try:
        status, doc = register(server, "link", "/" + link, 4096)
        assert status == 400 and "cannot open" in doc["error"], doc
        status, doc = register(server, "dir", "/" + d, 4096)
        assert status == 400, doc
    finally:
        os.unlink("/dev/shm/" + link)
        os.rmdir("/dev/shm/" + d)
    status, doc = server.get_json("/v2/systemsharedmemory/status")
    assert status == 200 and doc == []


# ---- 4. CUDA shared memory without a usable GPU ----------------------------------------------------------------

def test_cuda_shared_memory_unavailable(server):
    status, doc = server.get_json("/v2")
    if "cuda_shared_memory" in doc["extensions"]:
        pytest.skip("this server has CUDA shared memory (GPU build on a GPU host)")
    status, doc = server.post_json("/v2/cudasharedmemory/region/c/register",
                                   {"raw_handle": {"b64": "eA==" * 1}, "device_id": 0, "byte_size": 64})
    assert status == 400 and doc["error"].startswith("CUDA shared memory is not available: "), doc
    assert server.get_json("/v2/cudasharedmemory/status") == (200, [])
    status, doc = server.get_json("/v2/cudasharedmemory/region/c/status")
    assert status == 400 and "unable to find" in doc["error"], doc
    assert server.post_json("/v2/cudasharedmemory/region/c/unregister", {})[0] == 200
    assert server.post_json("/v2/cudasharedmemory/unregister", {})[0] == 200
    status, doc = server.post_json("/v2/cudasharedmemory/region/c/register", {"raw_handle": "x"})
    assert status == 400 and "raw_handle" in doc["error"], doc
    status, _, _ = server.request("GET", "/v2/cudasharedmemory/region/c/register")
    assert status == 405


def test_cuda_shared_memory_roundtrip(server):
    """GPU builds on a GPU host: a client process exports cudaMalloc'd buffers (cupy), registers them, and infers
    with input and output in CUDA regions; a byte_size past the allocation and a bad device are 400."""
    status, doc = server.get_json("/v2")
    if "cuda_shared_memory" not in doc["extensions"]:
        pytest.skip("no CUDA shared memory here (CPU build or no GPU)")
    cp = pytest.importorskip("cupy")
    import base64
    rt = cp.cuda.runtime
    x = np.arange(ROWS * COLS, dtype=np.float32)
    pin, pout = rt.malloc(NBYTES), rt.malloc(NBYTES)
    try:
        rt.memcpy(pin, x.ctypes.data, NBYTES, rt.memcpyHostToDevice)

        def reg(name, ptr, size, dev=0):
            h = base64.b64encode(bytes(rt.ipcGetMemHandle(ptr))).decode()
            return server.post_json(f"/v2/cudasharedmemory/region/{name}/register",
                                    {"raw_handle": {"b64": h}, "device_id": dev, "byte_size": size})
        assert reg("cin", pin, NBYTES)[0] == 200 and reg("cout", pout, NBYTES)[0] == 200
        status, doc = reg("big", pin, 1 << 30)
        assert status == 400 and "exceeds the CUDA allocation" in doc["error"], doc
        status, doc = reg("dev", pin, NBYTES, dev=4096)
        assert status == 400 and "device_id 4096" in doc["error"], doc
        status, doc = server.get_json("/v2/cudasharedmemory/status")
        assert sorted((d["name"], d["device_id"], d["byte_size"]) for d in doc) == [("cin", 0, NBYTES),
                                                                                    ("cout", 0, NBYTES)]
        status, doc = infer(server, "add", in_region="cin", out_region="cout")
        assert status == 200, doc
        y = np.empty(ROWS * COLS, np.float32)
        rt.memcpy(y.ctypes.data, pout, NBYTES, rt.memcpyDeviceToHost)
        np.testing.assert_array_equal(y, x + np.tile(np.array([1, 2, 3, 4], np.float32), ROWS))
        assert server.post_json("/v2/cudasharedmemory/unregister", {})[0] == 200
        status, doc = infer(server, "add", in_region="cin", out_region="cout")
        assert status == 400 and "unable to find" in doc["error"], doc
    finally:
        server.post_json("/v2/cudasharedmemory/unregister", {})
        rt.free(pin)
        rt.free(pout)


# ---- gRPC: the same registry and rules ---------------------------------------------------------------------------

def test_grpc_caps_truncation_and_cuda(kiln_bin, repo, objs, tmp_path):
    grpc = pytest.importorskip("grpc")
    from test_grpc_support import grpc_stubs
    pbm, pbg = grpc_stubs(tmp_path)
    s = Server(kiln_bin, repo, "--host", "127.0.0.1", "--shm-max-regions", "2")
    channel = grpc.insecure_channel(f"127.0.0.1:{s.grpc_port}")
    try:
        stub = pbg.GRPCInferenceServiceStub(channel)
        o = objs()
        o.write(np.arange(ROWS * COLS, dtype=np.float32).tobytes())
        reg = lambda name: stub.SystemSharedMemoryRegister(
            pbm.SystemSharedMemoryRegisterRequest(name=name, key=o.key, offset=0, byte_size=NBYTES))
        reg("g0")
        reg("g1")
        with pytest.raises(grpc.RpcError) as e:
            reg("g2")
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "--shm-max-regions (2)" in e.value.details()
        o.truncate(0)
        req = pbm.ModelInferRequest(model_name="add")
        t = req.inputs.add(name="x", datatype="FP32", shape=[ROWS, COLS])
        t.parameters["shared_memory_region"].string_param = "g0"
        t.parameters["shared_memory_byte_size"].int64_param = NBYTES
        with pytest.raises(grpc.RpcError) as e:
            stub.ModelInfer(req)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "no longer backed" in e.value.details()
        status, doc = s.get_json("/v2")
        if "cuda_shared_memory" not in doc["extensions"]:
            with pytest.raises(grpc.RpcError) as e:
                stub.CudaSharedMemoryRegister(pbm.CudaSharedMemoryRegisterRequest(
                    name="c", raw_handle=b"x" * 64, device_id=0, byte_size=64))
            assert "CUDA shared memory is not available" in e.value.details()
            assert len(stub.CudaSharedMemoryStatus(pbm.CudaSharedMemoryStatusRequest()).regions) == 0
        assert_serving(s)
    finally:
        channel.close()
        assert s.stop() == 0
