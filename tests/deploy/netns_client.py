"""Client half of the container test, run inside the container's network namespace (nsenter -n): the container has
only `lo`, so this is the one place its ports can be reached from.

  infer MODEL INPUT.npy EXPECTED.npy: one inference over HTTP and one over gRPC with the Triton clients; the outputs
      must match EXPECTED (ONNX Runtime's, computed by the test) within 1e-4. Then GET :8002/metrics, printed.
  load MODEL INPUT.npy SECONDS: closed-loop HTTP load from 4 threads; prints "load started" once requests succeed,
      then runs until the server goes away; prints a JSON summary: ok (200), refused (503 or connection refused),
      broken (a request sent but never answered: what a drain must not produce)."""
import http.client
import json
import sys
import threading
import time

import numpy as np


def infer(model, input_path, expected_path):
    import tritonclient.grpc as grpcclient
    import tritonclient.http as httpclient
    x = np.load(input_path)
    want = np.load(expected_path)
    for name, mod, url in (("http", httpclient, "127.0.0.1:8000"), ("grpc", grpcclient, "127.0.0.1:8001")):
        client = mod.InferenceServerClient(url=url)
        assert client.is_server_ready(), f"{name}: server not ready"
        meta = client.get_model_metadata(model)
        in_name = meta["inputs"][0]["name"] if isinstance(meta, dict) else meta.inputs[0].name
        out_name = meta["outputs"][0]["name"] if isinstance(meta, dict) else meta.outputs[0].name
        inp = mod.InferInput(in_name, list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        got = client.infer(model, [inp]).as_numpy(out_name)
        err = float(np.max(np.abs(got - want)))
        assert got.shape == want.shape and err < 1e-4, f"{name}: output differs from ONNX Runtime (max |diff| {err})"
        print(f"{name} infer ok: {out_name} {list(got.shape)} max|diff| {err:.2e}")
    conn = http.client.HTTPConnection("127.0.0.1", 8002, timeout=10)
    conn.request("GET", "/metrics")
    resp = conn.getresponse()
    assert resp.status == 200, f"/metrics answered {resp.status}"
    sys.stdout.write(resp.read().decode())


def load(model, input_path, seconds):
    x = np.load(input_path)
    body = json.dumps({"inputs": [{"name": "image", "shape": list(x.shape), "datatype": "FP32",
                                   "data": x.ravel().tolist()}]}).encode()
    counts = {"ok": 0, "refused": 0, "broken": 0}
    lock = threading.Lock()
    started = threading.Event()
    stop = time.time() + seconds

    def one():
        conn = http.client.HTTPConnection("127.0.0.1", 8000, timeout=30)
        try:
            conn.connect()
        except OSError:
            return "refused"
        try:
            conn.request("POST", f"/v2/models/{model}/infer", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            return "ok" if resp.status == 200 else "refused" if resp.status == 503 else f"http {resp.status}"
        except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError):
            # Sent, never answered. A connection the kernel accepted just before the listener closed is reset this
            # way without the server having seen it (at most one per client thread); more means a dropped request.
            return "broken"
        finally:
            conn.close()

    def worker():
        refused_in_row = 0
        while time.time() < stop and refused_in_row < 20:
            r = one()
            with lock:
                counts[r] = counts.get(r, 0) + 1
                if r == "ok":
                    started.set()
            refused_in_row = refused_in_row + 1 if r != "ok" else 0
            if r != "ok":
                time.sleep(0.05)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    if started.wait(30):
        print("load started", flush=True)
    for t in threads:
        t.join()
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "infer":
        infer(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "load":
        load(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        sys.exit(f"netns_client.py: unknown action {sys.argv[1]!r} (expected infer or load)")
