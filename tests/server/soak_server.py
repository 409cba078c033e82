"""Soak run of `kiln serve` (issue 13): mixed valid and hostile traffic for --minutes, RSS sampled every 10 s.

Not a test (it runs for minutes): python3 tests/server/soak_server.py --kiln build/bin/kiln --minutes 10
Traffic, from --threads client threads over HTTP and gRPC at once:
  valid: JSON and binary infers (checked numerically), gzip-compressed infers, classification, system shared memory
         (register, infer with input and output in the region, unregister), statistics, metadata, health;
  invalid: malformed JSON, unknown model/output/region, bad shapes and datatypes, duplicate outputs, oversized
           element counts, truncated binary bodies, bad Content-Encoding, model load with invalid config JSON,
           killed connections (a request sent, the socket closed before the answer);
  control: unload/load of one model every few seconds (explicit mode).
Prints RSS at start (after warm-up), min/max under load and after the load stops, request counts by outcome, and
fails (exit 1) on any wrong answer, any 5xx on a valid request, a server exit, or RSS growing over the run by more
than --max-growth-mb between the first and last minute's averages.
"""
import argparse
import gzip
import json
import os
import random
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server, add_model, write  # noqa: E402

W = 4  # the add model's width


def soak_repo(root):
    add_model(root)  # y = x + [1, 2, 3, 4], FP32 [batch, 4], dynamic batching
    add_model(root, "ctl", const=(0.0, 0.0, 0.0, 1.0))
    write(os.path.join(root, "labels.txt"), "a\nb\nc\nd\n")


class Soak:
    def __init__(self, server, seconds, seed):
        self.s = server
        self.end = time.time() + seconds
        self.counts = Counter()
        self.errors = []
        self.lock = threading.Lock()
        self.seed = seed

    def count(self, key, ok=True, detail=""):
        with self.lock:
            self.counts[key] += 1
            if not ok and len(self.errors) < 50:
                self.errors.append(f"{key}: {detail}"[:300])

    # ---- valid traffic -----------------------------------------------------------------------------------------
    def json_infer(self, rng):
        x = rng.randn(rng.randint(1, 8), W).astype(np.float32)
        st, doc = self.s.post_json("/v2/models/add/infer", {
            "inputs": [{"name": "x", "datatype": "FP32", "shape": list(x.shape), "data": x.flatten().tolist()}]})
        ok = st == 200 and np.allclose(np.array(doc["outputs"][0]["data"]).reshape(x.shape), x + [1, 2, 3, 4],
                                       rtol=1e-6)
        self.count("valid.json", ok, f"{st} {doc}")

    def binary_infer(self, rng, compress=False):
        x = rng.randn(rng.randint(1, 8), W).astype(np.float32)
        header = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": list(x.shape),
                                         "parameters": {"binary_data_size": x.nbytes}}],
                             "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}).encode()
        body = header + x.tobytes()
        headers = {"Inference-Header-Content-Length": str(len(header))}
        if compress:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        st, hdrs, out = self.s.request("POST", "/v2/models/add/infer", body, headers)
        ok = st == 200
        if ok:
            n = int(hdrs["Inference-Header-Content-Length"])
            y = np.frombuffer(out[n:], np.float32).reshape(x.shape)
            ok = np.allclose(y, x + [1, 2, 3, 4], rtol=1e-6)
        self.count("valid.binary_gzip" if compress else "valid.binary", ok, f"{st} {out[:200]!r}")

    def classify(self, rng):
        x = rng.randn(1, W).astype(np.float32)
        st, doc = self.s.post_json("/v2/models/add/infer", {
            "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, W], "data": x.flatten().tolist()}],
            "outputs": [{"name": "y", "parameters": {"classification": 2}}]})
        ok = st == 200
        if ok:
            top = [int(s.split(":")[1]) for s in doc["outputs"][0]["data"]]
            ok = top == list(np.argsort(-(x[0] + [1, 2, 3, 4]), kind="stable")[:2])
        self.count("valid.classification", ok, f"{st} {doc}")

    def shm_infer(self, rng):
        name = "soak_" + uuid.uuid4().hex[:10]
        path = "/dev/shm/" + name
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.ftruncate(fd, 64)
            x = rng.randn(1, W).astype(np.float32)
            os.pwrite(fd, x.tobytes(), 0)
            region = "r_" + name
            st, doc = self.s.post_json(f"/v2/systemsharedmemory/region/{region}/register",
                                       {"key": "/" + name, "offset": 0, "byte_size": 64})
            if st != 200:
                return self.count("valid.shm", False, f"register {st} {doc}")
            st, doc = self.s.post_json("/v2/models/add/infer", {
                "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, W],
                            "parameters": {"shared_memory_region": region, "shared_memory_byte_size": 16}}],
                "outputs": [{"name": "y", "parameters": {"shared_memory_region": region,
                                                         "shared_memory_byte_size": 16,
                                                         "shared_memory_offset": 32}}]})
            y = np.frombuffer(os.pread(fd, 16, 32), np.float32)
            ok = st == 200 and np.allclose(y, x[0] + [1, 2, 3, 4], rtol=1e-6)
            self.count("valid.shm", ok, f"{st} {doc}")
            self.s.post_json(f"/v2/systemsharedmemory/region/{region}/unregister", {})
        finally:
            os.close(fd)
            os.unlink(path)

    def reads(self, rng):
        for path in ("/v2/models/add", "/v2/models/add/stats", "/v2"):
            st, _ = self.s.get_json(path)
            self.count("valid.get", st == 200, f"{path} {st}")
        # Strict readiness: while the control thread reloads `ctl` (LOADING) the server is rightly not ready.
        st, doc = self.s.get_json("/v2/health/ready")
        self.count("valid.ready" if st == 200 else "valid.not_ready_during_reload",
                   (st == 200 and doc == {"ready": True}) or (st == 400 and doc and doc.get("ready") is False),
                   f"ready {st} {doc}")

    # ---- hostile traffic ---------------------------------------------------------------------------------------
    def bad(self, rng):
        k = rng.randint(0, 9)
        doc_ok = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, W], "data": [0.0] * W}]}
        if k == 0:
            st, _, _ = self.s.request("POST", "/v2/models/add/infer", b'{"inputs": [', {})
        elif k == 1:
            st, _ = self.s.post_json("/v2/models/nope/infer", doc_ok)
        elif k == 2:
            st, _ = self.s.post_json("/v2/models/add/infer", dict(doc_ok, outputs=[{"name": "y"}] * 50))
        elif k == 3:
            st, _ = self.s.post_json("/v2/models/add/infer", {
                "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, W + 1], "data": [0.0] * (W + 1)}]})
        elif k == 4:
            st, _ = self.s.post_json("/v2/models/add/infer", {
                "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, W],
                            "parameters": {"shared_memory_region": "missing", "shared_memory_byte_size": 16}}]})
        elif k == 5:
            header = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [4, W],
                                             "parameters": {"binary_data_size": 64}}]}).encode()
            st, _, _ = self.s.request("POST", "/v2/models/add/infer", header + b"\0" * 10,
                                      {"Inference-Header-Content-Length": str(len(header))})
        elif k == 6:
            st, _, _ = self.s.request("POST", "/v2/models/add/infer", b"xx", {"Content-Encoding": "br"})
        elif k == 7:
            st, _ = self.s.post_json("/v2/repository/models/ctl/load", {"parameters": {"config": "{not json"}})
        else:
            self.killed_connection()
            st = 499
        self.count(f"invalid.{k}", 400 <= st < 500, f"status {st}")

    def killed_connection(self):
        body = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, W], "data": [0.0] * W}]})
        s = socket.create_connection(("127.0.0.1", self.s.http_port), timeout=5)
        s.sendall(f"POST /v2/models/add/infer HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n{body}"
                  .encode())
        s.close()

    def grpc_traffic(self, rng, client):
        import tritonclient.grpc as grpcclient
        x = rng.randn(rng.randint(1, 4), W).astype(np.float32)
        inp = grpcclient.InferInput("x", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        try:
            r = client.infer("add", [inp])
            self.count("valid.grpc", np.allclose(r.as_numpy("y"), x + [1, 2, 3, 4], rtol=1e-6))
        except Exception as e:  # noqa: BLE001 - any failure of a valid request is reported
            self.count("valid.grpc", False, str(e))
        try:
            client.infer("nope", [inp])
            self.count("invalid.grpc", False, "unknown model accepted")
        except Exception:  # noqa: BLE001
            self.count("invalid.grpc", True)

    def worker(self, idx):
        rng = np.random.RandomState(self.seed + idx)
        client = None
        if idx % 2 == 1:
            import tritonclient.grpc as grpcclient
            client = grpcclient.InferenceServerClient(f"127.0.0.1:{self.s.grpc_port}")
        while time.time() < self.end:
            try:
                r = random.Random(rng.randint(1 << 30)).random()
                if client is not None and r < 0.3:
                    self.grpc_traffic(rng, client)
                elif r < 0.5:
                    self.json_infer(rng)
                elif r < 0.6:
                    self.binary_infer(rng, compress=r < 0.55)
                elif r < 0.65:
                    self.classify(rng)
                elif r < 0.72:
                    self.shm_infer(rng)
                elif r < 0.8:
                    self.reads(rng)
                else:
                    self.bad(rng)
            except Exception as e:  # noqa: BLE001 - a client-side failure (connection refused, reset) is an error
                self.count("client_exception", False, repr(e))

    def control(self):
        while time.time() < self.end:
            time.sleep(3)
            for action in ("unload", "load"):
                st, doc = self.s.post_json(f"/v2/repository/models/ctl/{action}", {})
                self.count(f"control.{action}", st == 200, f"{st} {doc}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--max-growth-mb", type=float, default=50)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    root = tempfile.mkdtemp(prefix="kiln_soak_")
    soak_repo(root)
    s = Server(a.kiln, root, "--model-control-mode", "explicit", "--load-model", "*", "--host", "127.0.0.1")
    try:
        idle = s.rss_bytes() / 2**20
        soak = Soak(s, a.minutes * 60, a.seed)
        threads = [threading.Thread(target=soak.worker, args=(i,), daemon=True) for i in range(a.threads)]
        threads.append(threading.Thread(target=soak.control, daemon=True))
        for t in threads:
            t.start()
        samples = []
        t0 = time.time()
        while any(t.is_alive() for t in threads):
            time.sleep(10)
            if s.proc.poll() is not None:
                soak.errors.append(f"kiln serve exited with {s.proc.returncode}")
                break
            samples.append((time.time() - t0, s.rss_bytes() / 2**20))
            print(f"t={samples[-1][0]:5.0f} s  RSS {samples[-1][1]:7.1f} MB  requests {sum(soak.counts.values())}",
                  flush=True)
        for t in threads:
            t.join(30)
        time.sleep(2)
        after = s.rss_bytes() / 2**20
        rss = [m for _, m in samples] or [after]
        first = [m for t, m in samples if t <= 60] or rss[:1]
        last = [m for t, m in samples if t >= samples[-1][0] - 60] or rss[-1:]
        growth = sum(last) / len(last) - sum(first) / len(first)
        print(f"\nRSS idle {idle:.1f} MB; under load min {min(rss):.1f} / max {max(rss):.1f} MB; after the load "
              f"{after:.1f} MB; first-minute avg {sum(first) / len(first):.1f} -> last-minute avg "
              f"{sum(last) / len(last):.1f} MB (growth {growth:+.1f} MB)")
        total = sum(soak.counts.values())
        print(f"requests: {total} in {a.minutes:.1f} min ({total / (a.minutes * 60):.0f}/s)")
        for k, v in sorted(soak.counts.items()):
            print(f"  {k}: {v}")
        if growth > a.max_growth_mb:
            soak.errors.append(f"RSS grew by {growth:.1f} MB (limit {a.max_growth_mb})")
        print("errors:", len(soak.errors))
        for e in soak.errors:
            print("  " + e)
        return 1 if soak.errors else 0
    finally:
        s.stop()


if __name__ == "__main__":
    sys.exit(main())
