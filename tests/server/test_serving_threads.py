"""Serving-path threads that the 2-core CI machine would not start by default: the response pool
(KILN_SERVE_RESPONSE_THREADS) answering batches of mixed sizes assembled in reused batch buffers, its drain at
SIGTERM, and kiln perf's asynchronous loops on several threads (KILN_PERF_ASYNC_THREADS)."""
import http.client
import json
import os
import random
import re
import subprocess
import threading

import numpy as np
import pytest

from serve_util import Server, add_model

CONST = np.array([1, 2, 3, 4], np.float32)
CONFIG = ('name: "add"\nmax_batch_size: 16\n'
          'dynamic_batching { preferred_batch_size: [ 8, 16 ] max_queue_delay_microseconds: 1000 }\n'
          'instance_group [ { count: 2 kind: KIND_CPU } ]\n')


def env_with(**kv):
    env = dict(os.environ)
    env.update({k: str(v) for k, v in kv.items()})
    return env


def run_clients(port, total, concurrency, seed=0):
    """`total` requests of 1..5 rows each over `concurrency` connections; returns (answered, failures)."""
    lock = threading.Lock()
    next_index = iter(range(total))
    answered, failures = [0], []

    def client():
        rng = random.Random(seed + threading.get_ident())
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                break
            rows = rng.randint(1, 5)
            x = np.arange(rows * 4, dtype=np.float32).reshape(rows, 4) + i
            body = json.dumps({"id": str(i), "inputs": [{"name": "x", "datatype": "FP32", "shape": [rows, 4],
                                                         "data": x.flatten().tolist()}]})
            try:
                conn.request("POST", "/v2/models/add/infer", body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                doc = json.loads(r.read())
            except Exception as e:  # noqa: BLE001 - recorded and asserted by the caller
                failures.append(("error", i, repr(e)))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                continue
            if r.status != 200:
                failures.append(("status", i, r.status, doc))
                continue
            out = np.array(doc["outputs"][0]["data"], np.float32).reshape(doc["outputs"][0]["shape"])
            if doc.get("id") != str(i) or out.shape != (rows, 4) or not np.array_equal(out, x + CONST):
                failures.append(("wrong", i, doc))
            else:
                with lock:
                    answered[0] += 1
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answered[0], failures


@pytest.mark.parametrize("response_threads", [0, 3])
def test_mixed_batch_sizes_answered_by_response_pool(kiln_bin, tmp_path, response_threads):
    add_model(tmp_path, config=CONFIG)
    s = Server(kiln_bin, tmp_path, env=env_with(KILN_SERVE_RESPONSE_THREADS=response_threads))
    try:
        answered, failures = run_clients(s.http_port, 3000, 24)
        assert not failures, failures[:5]
        assert answered == 3000
        st = s.stats("add")
        assert st["inference_stats"]["success"]["count"] == 3000
        # Batches of many sizes ran (each a view of the instance's one batch buffer), and requests were merged.
        sizes = {b["batch_size"] for b in st["batch_stats"]}
        assert len(sizes) > 3, sizes
        assert st["execution_count"] < 3000
        assert s.stop() == 0
    finally:
        s.stop()


def test_sigterm_under_load_answers_everything_with_response_pool(kiln_bin, tmp_path):
    add_model(tmp_path, config=CONFIG)
    s = Server(kiln_bin, tmp_path, env=env_with(KILN_SERVE_RESPONSE_THREADS=2))
    results = {}

    def load():
        results["r"] = run_clients(s.http_port, 30_000, 16, seed=7)

    t = threading.Thread(target=load)
    t.start()
    try:
        # Let the load run, then stop the server in the middle of it.
        deadline = 200
        while deadline and s.stats("add")["inference_stats"]["success"]["count"] < 500:
            threading.Event().wait(0.02)
            deadline -= 1
        assert s.stop() == 0
        t.join(timeout=120)
        answered, failures = results["r"]
        assert answered >= 500
        # Requests sent after the drain began are refused (503) or find the connection closed; none gets a wrong
        # answer and none hangs (join above returned).
        for f in failures:
            assert f[0] == "error" or (f[0] == "status" and f[2] == 503), f
    finally:
        s.stop()
        t.join(timeout=5)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_perf_async_loops_on_several_threads(kiln_bin, tmp_path, protocol):
    add_model(tmp_path, config=CONFIG)
    s = Server(kiln_bin, tmp_path)
    try:
        port = s.http_port if protocol == "http" else s.grpc_port
        r = subprocess.run([kiln_bin, "perf", "-m", "add", "-i", protocol, "-u", f"127.0.0.1:{port}",
                            "--concurrency-range", "7", "-p", "300", "-s", "50", "-r", "4"],
                           capture_output=True, text=True, timeout=120, env=env_with(KILN_PERF_ASYNC_THREADS=3))
        assert r.returncode == 0, r.stdout + r.stderr
        m = re.search(r"^Concurrency: 7, throughput: ([0-9.]+) infer/sec", r.stdout, re.M)
        assert m and float(m.group(1)) > 0, r.stdout
        client = int(re.search(r"Request count: (\d+)", r.stdout).group(1))
        server = int(re.search(r"Inference count: (\d+)", r.stdout).group(1))
        assert client > 0 and server > 0
    finally:
        s.stop()
