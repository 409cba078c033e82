"""CUDA shared memory against `kiln serve` on a GPU machine, checked numerically (a check, not a benchmark).

The client side is what tritonclient.utils.cuda_shared_memory does, written against libcudart with ctypes (the GPU
machine has no tritonclient): cudaMalloc a device buffer, cudaIpcGetMemHandle, register the handle over HTTP
(`POST v2/cudasharedmemory/region/{r}/register`, raw_handle base64), then infer with inputs and/or outputs in the
region. ResNet-50 FP16 (serve_gpu.py's export and engine) behind one GPU instance; every response is compared with
onnxruntime on the CPU (cosine >= 0.995, serve_gpu.py's rule). Also: status, unregister, a region used after
unregistering, a garbage handle, a byte_size past the allocation, an offset past the region, 32 threads with a region
each (a third sending inputs in the body, so batches mix device and host parts), and a CPU instance reading a CUDA
region.
Usage: python3 bench/cuda_shm_check_gpu.py --kiln dist/bin/kiln [--work DIR] [--input-dtype fp16|fp32]
Exit status 0 when every check passed.
"""
import argparse
import base64
import ctypes
import ctypes.util
import glob
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_gpu as sg  # noqa: E402

PORT = 8000


def load_cudart():
    names = ["libcudart.so", "libcudart.so.13", "libcudart.so.12"]
    try:
        import nvidia.cuda_runtime as m  # PyTorch's copy
        names += sorted(glob.glob(os.path.join(list(m.__path__)[0], "lib", "libcudart.so*")))
    except ImportError:
        pass
    found = ctypes.util.find_library("cudart")
    if found:
        names.append(found)
    for n in names:
        try:
            return ctypes.CDLL(n)
        except OSError:
            continue
    raise RuntimeError("libcudart not found (tried " + ", ".join(names) + ")")


class DeviceBuffer:
    """A cudaMalloc'd buffer and its IPC handle; what tritonclient's create_shared_memory_region makes."""

    def __init__(self, rt, nbytes):
        self.rt, self.nbytes, self.ptr = rt, nbytes, ctypes.c_void_p()
        check(rt.cudaMalloc(ctypes.byref(self.ptr), ctypes.c_size_t(nbytes)), "cudaMalloc")
        handle = (ctypes.c_char * 64)()
        check(rt.cudaIpcGetMemHandle(handle, self.ptr), "cudaIpcGetMemHandle")
        self.handle = bytes(handle)

    def write(self, arr, offset=0):
        a = np.ascontiguousarray(arr)
        check(self.rt.cudaMemcpy(ctypes.c_void_p(self.ptr.value + offset), a.ctypes.data_as(ctypes.c_void_p),
                                 ctypes.c_size_t(a.nbytes), 1), "cudaMemcpy H2D")

    def read(self, dtype, shape, offset=0):
        out = np.empty(shape, dtype=dtype)
        check(self.rt.cudaMemcpy(out.ctypes.data_as(ctypes.c_void_p), ctypes.c_void_p(self.ptr.value + offset),
                                 ctypes.c_size_t(out.nbytes), 2), "cudaMemcpy D2H")
        return out

    def free(self):
        self.rt.cudaFree(self.ptr)


def check(err, what):
    if err != 0:
        raise RuntimeError(f"{what} failed: CUDA error {err}")


def http(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


def register(name, buf, byte_size=None):
    return http("POST", f"/v2/cudasharedmemory/region/{name}/register",
                {"raw_handle": {"b64": base64.b64encode(buf.handle).decode()}, "device_id": 0,
                 "byte_size": byte_size if byte_size is not None else buf.nbytes})


def cosine_ok(y, ref):
    cos = float((y * ref).sum() / (np.linalg.norm(y) * np.linalg.norm(ref) + 1e-30))
    return np.isfinite(y).all() and cos >= 0.995, cos


class Checker:
    def __init__(self):
        self.passed, self.failed = 0, []

    def expect(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed.append(what)
        print(("ok   " if ok else "FAIL ") + what, flush=True)


def infer_body(x_dtype, shape, in_region=None, in_offset=0, out_region=None, out_bytes=0, x=None):
    inp = {"name": "input", "datatype": x_dtype, "shape": list(shape)}
    if in_region:
        inp["parameters"] = {"shared_memory_region": in_region, "shared_memory_byte_size":
                             int(np.prod(shape)) * (2 if x_dtype == "FP16" else 4), "shared_memory_offset": in_offset}
    else:
        inp["data"] = x.astype(np.float32).ravel().tolist()
    out = {"name": "logits"}
    if out_region:
        out["parameters"] = {"shared_memory_region": out_region, "shared_memory_byte_size": out_bytes}
    else:
        out["parameters"] = {"binary_data": False}
    return {"inputs": [inp], "outputs": [out]}


def run_checks(a, c, rt, sess, onnx_path):
    np_in = np.float16 if a.input_dtype == "fp16" else np.float32
    x_dtype = "FP16" if a.input_dtype == "fp16" else "FP32"
    status, meta = http("GET", "/v2/models/resnet50")
    out_dt = {o["name"]: o["datatype"] for o in meta["outputs"]}["logits"]
    np_out = {"FP32": np.float32, "FP16": np.float16}[out_dt]
    b = 4
    rng = np.random.RandomState(11)
    x = rng.rand(b, 3, 224, 224).astype(np_in)
    ref = sess.run(None, {"input": x.astype(np.float32)})[0]
    out_bytes = b * 1000 * np.dtype(np_out).itemsize
    xin, yout = DeviceBuffer(rt, x.nbytes + 4096), DeviceBuffer(rt, out_bytes)
    xin.write(x, offset=4096)
    s, r = register("in0", xin)
    c.expect(s == 200, f"register input region ({xin.nbytes} bytes): HTTP {s} {r}")
    s, r = register("out0", yout)
    c.expect(s == 200, f"register output region: HTTP {s} {r}")
    s, r = http("GET", "/v2/cudasharedmemory/status")
    names = sorted(e["name"] for e in r) if s == 200 else []
    c.expect(s == 200 and names == ["in0", "out0"], f"status lists both regions: {r}")
    s, r = http("GET", "/v2/cudasharedmemory/region/in0/status")
    c.expect(s == 200 and r[0]["byte_size"] == xin.nbytes and r[0]["device_id"] == 0, f"region status: {r}")

    # input and output in CUDA shared memory (input at an offset)
    s, r = http("POST", "/v2/models/resnet50/infer", infer_body(x_dtype, x.shape, "in0", 4096, "out0", out_bytes))
    y = yout.read(np_out, (b, 1000)).astype(np.float32)
    oks = [cosine_ok(y[i], ref[i]) for i in range(b)]
    c.expect(s == 200 and all(o for o, _ in oks),
             f"input+output in CUDA shm, batch {b}: HTTP {s}, cosines {[round(v, 5) for _, v in oks]}")
    c.expect(s == 200 and "data" not in r["outputs"][0] and
             r["outputs"][0].get("parameters", {}).get("shared_memory_region") == "out0",
             f"the response names the output region and carries no data: {str(r)[:200]}")
    # input in CUDA shm, output in the body
    s, r = http("POST", "/v2/models/resnet50/infer", infer_body(x_dtype, x.shape, "in0", 4096))
    ok = s == 200 and all(cosine_ok(np.array(r["outputs"][0]["data"], np.float32).reshape(b, 1000)[i], ref[i])[0]
                          for i in range(b))
    c.expect(ok, f"input in CUDA shm, output in the body: HTTP {s}")
    # input in the body, output in CUDA shm (first clear the region)
    yout.write(np.zeros((b, 1000), np_out))
    s, r = http("POST", "/v2/models/resnet50/infer", infer_body(x_dtype, x.shape, out_region="out0",
                                                               out_bytes=out_bytes, x=x))
    y = yout.read(np_out, (b, 1000)).astype(np.float32)
    c.expect(s == 200 and all(cosine_ok(y[i], ref[i])[0] for i in range(b)), f"output only in CUDA shm: HTTP {s}")
    # bad uses are 400s with a message, and the server stays up
    s, r = http("POST", "/v2/models/resnet50/infer", infer_body(x_dtype, x.shape, "in0", xin.nbytes - 100))
    c.expect(s == 400, f"input past the region's end is 400: HTTP {s} {r}")
    s, r = http("POST", "/v2/models/resnet50/infer", infer_body(x_dtype, x.shape, "in0", 4096, "out0", out_bytes - 4))
    c.expect(s == 400, f"an output region too small is 400: HTTP {s} {r}")
    garbage = type("G", (), {"handle": b"\x07" * 64, "nbytes": 1024})()
    s, r = register("bad", garbage)
    c.expect(s == 400 and "error" in (r or {}), f"a garbage IPC handle is 400: HTTP {s} {r}")
    s, r = register("big", xin, byte_size=xin.nbytes * 4)
    c.expect(s == 400, f"a byte_size past the CUDA allocation is 400: HTTP {s} {r}")
    s, r = register("in0", xin)
    c.expect(s == 400, f"registering a name twice is 400: HTTP {s} {r}")
    s, r = http("POST", "/v2/cudasharedmemory/region/in0/unregister")
    c.expect(s == 200, f"unregister: HTTP {s}")
    s, r = http("POST", "/v2/models/resnet50/infer", infer_body(x_dtype, x.shape, "in0", 4096))
    c.expect(s == 400, f"an unregistered region is 400: HTTP {s} {r}")
    s, r = http("POST", "/v2/cudasharedmemory/unregister")
    s2, r2 = http("GET", "/v2/cudasharedmemory/status")
    c.expect(s == 200 and s2 == 200 and r2 == [], f"unregister all empties the status: {r2}")
    xin.free()
    yout.free()

    # 32 clients at once, each with its own input and output regions, several requests each
    import concurrent.futures
    n, per = 32, 4
    xs = [rng.rand(1, 3, 224, 224).astype(np_in) for _ in range(8)]
    refs = [sess.run(None, {"input": v.astype(np.float32)})[0][0] for v in xs]
    bufs = []
    for i in range(n):
        bi, bo = DeviceBuffer(rt, xs[0].nbytes), DeviceBuffer(rt, 1000 * np.dtype(np_out).itemsize)
        register(f"ci{i}", bi)
        register(f"co{i}", bo)
        bufs.append((bi, bo))

    def client(i):
        # Every third client sends its input in the body: batches mix device parts and host parts.
        bad = 0
        for k in range(per):
            j = (i + k) % len(xs)
            bufs[i][0].write(xs[j])
            in_region = None if i % 3 == 2 else f"ci{i}"
            s, _ = http("POST", "/v2/models/resnet50/infer",
                        infer_body(x_dtype, xs[j].shape, in_region, 0, f"co{i}", 1000 * np.dtype(np_out).itemsize,
                                   x=xs[j]))
            y = bufs[i][1].read(np_out, (1000,)).astype(np.float32)
            bad += s != 200 or not cosine_ok(y, refs[j])[0]
        return bad

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        bad = sum(pool.map(client, range(n)))
    c.expect(bad == 0, f"{n} clients x {per} requests, own regions each (a third with inputs in the body): "
                       f"{n * per - bad} of {n * per} right")
    http("POST", "/v2/cudasharedmemory/unregister")
    for bi, bo in bufs:
        bi.free()
        bo.free()
    # A CPU instance reads a CUDA shared-memory input too (copied device-to-host for it).
    v = rng.rand(3, 16).astype(np.float32)
    vin = DeviceBuffer(rt, v.nbytes)
    vin.write(v)
    register("cpu_in", vin)
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [3, 16],
                        "parameters": {"shared_memory_region": "cpu_in", "shared_memory_byte_size": v.nbytes}}],
            "outputs": [{"name": "y", "parameters": {"binary_data": False}}]}
    s, r = http("POST", "/v2/models/cpu_double/infer", body)
    got = np.array(r["outputs"][0]["data"], np.float32).reshape(3, 16) if s == 200 else None
    c.expect(s == 200 and np.array_equal(got, v * 2), f"a CPU instance reads a CUDA shared-memory input: HTTP {s}")
    http("POST", "/v2/cudasharedmemory/region/cpu_in/unregister")
    vin.free()
    s, _ = http("GET", "/v2/health/ready")
    c.expect(s == 200, "server still ready")


def write_cpu_double(repo):
    """A CPU model next to ResNet-50: y = 2 x, x [-1, 16] float32, one KIND_CPU instance."""
    import onnx
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "cpu_double",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 16])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    os.makedirs(os.path.join(repo, "cpu_double", "1"), exist_ok=True)
    onnx.save(m, os.path.join(repo, "cpu_double", "1", "model.onnx"))
    with open(os.path.join(repo, "cpu_double", "config.pbtxt"), "w") as f:
        f.write('name: "cpu_double"\nmax_batch_size: 8\ninput [{ name: "x" data_type: TYPE_FP32 dims: [16] }]\n'
                'output [{ name: "y" data_type: TYPE_FP32 dims: [16] }]\ninstance_group [{ count: 1 kind: KIND_CPU }]\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--input-dtype", default="fp16", choices=["fp32", "fp16"])
    ap.add_argument("--max-batch", type=int, default=128)
    ap.add_argument("--work", help="folder kept between runs: the export and the engine are reused when present")
    a = ap.parse_args()
    import onnxruntime as ort
    work = a.work or tempfile.mkdtemp(prefix="kiln_cuda_shm_")
    os.makedirs(work, exist_ok=True)
    onnx_path, repo = sg.prepared_engine(a, work)
    with open(os.path.join(repo, "resnet50", "1", "model.kiln.input_dtype"), "w") as f:  # serve_gpu.py --work reuses it
        f.write(a.input_dtype)
    sg.write_config(repo, a.max_batch, 1, input_dtype=a.input_dtype)
    write_cpu_double(repo)
    rt = load_cudart()
    check(rt.cudaSetDevice(0), "cudaSetDevice")
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    out = tempfile.TemporaryFile(mode="w+")
    server = subprocess.Popen([a.kiln, "serve", "--model-repository", repo, "--http-port", str(PORT), "--grpc-port",
                               "8001", "--metrics-port", "8002"], stdout=out, stderr=subprocess.STDOUT, text=True)
    c = Checker()
    try:
        sg.wait_ready(server, PORT)
        run_checks(a, c, rt, sess, onnx_path)
    except Exception as e:  # noqa: BLE001
        c.expect(False, f"check aborted: {type(e).__name__}: {e}")
    finally:
        alive = server.poll() is None
        sg.stop_server(server)
        out.seek(0)
        tail = out.read()[-1500:]
    c.expect(alive, "the server did not exit during the checks")
    print(f"cuda shared memory: {c.passed} passed, {len(c.failed)} failed")
    if c.failed:
        print("server output (tail):\n" + tail)
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
