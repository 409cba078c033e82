"""kiln serve fault handling: queue overflow, timeouts, oversized bodies, disconnecting clients, unload under load,
unload freeing memory, SIGTERM draining in-flight requests."""
import json
import math
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from serve_util import Server, add_model, big_model, infer_doc, metric_value, output, slow_model

SLOW_ROWS = 16


def slow_doc(rows=SLOW_ROWS, **extra):
    return infer_doc(np.full((rows, 256), 0.5, np.float32), **extra)


@pytest.fixture(scope="module")
def server(kiln_bin, tmp_path_factory):
    repo = tmp_path_factory.mktemp("faults")
    add_model(repo)
    slow_model(repo, "slow_queue", config='name: "slow_queue"\nmax_batch_size: 16\n'
                                          'dynamic_batching { default_queue_policy { max_queue_size: 2 } }\n'
                                          'instance_group [ { count: 1 kind: KIND_CPU } ]\n')
    slow_model(repo, "slow_timeout",
               config='name: "slow_timeout"\nmax_batch_size: 16\n'
                      'dynamic_batching { default_queue_policy { default_timeout_microseconds: 50000 '
                      'allow_timeout_override: true } }\ninstance_group [ { count: 1 kind: KIND_CPU } ]\n')
    slow_model(repo, "slow_plain")  # no dynamic batching: requests run one by one
    s = Server(kiln_bin, repo, "--http-max-body-size", "262144")
    yield s
    assert s.stop() == 0


def fire(server, model, docs):
    with ThreadPoolExecutor(len(docs)) as pool:
        return list(pool.map(lambda d: server.post_json(f"/v2/models/{model}/infer", d), docs))


def test_queue_full_is_429(server):
    results = fire(server, "slow_queue", [slow_doc() for _ in range(12)])
    codes = sorted(r[0] for r in results)
    assert set(codes) <= {200, 429}, codes
    assert codes.count(429) >= 1 and codes.count(200) >= 3, codes
    for status, doc in results:
        if status == 429:
            assert "queue is full" in doc["error"]
    text = server.metrics()
    assert metric_value(text, "kiln_inference_request_failure", model="slow_queue", reason="REJECTED") == codes.count(429)


def test_timeout_is_504_and_override_honoured(server):
    results = fire(server, "slow_timeout", [slow_doc() for _ in range(10)])
    codes = [r[0] for r in results]
    assert set(codes) <= {200, 504}, codes
    assert codes.count(504) >= 1 and codes.count(200) >= 1, codes
    assert all("timed out" in d["error"] for s, d in results if s == 504)
    # allow_timeout_override: a request may ask for a longer timeout ("timeout" in microseconds).
    results = fire(server, "slow_timeout", [slow_doc(parameters={"timeout": 60_000_000}) for _ in range(4)])
    assert [r[0] for r in results] == [200] * 4
    text = server.metrics()
    assert metric_value(text, "kiln_inference_request_failure", model="slow_timeout", reason="REJECTED") >= 1


def test_oversized_body_is_413(server):
    body = json.dumps(infer_doc(np.zeros((64, 4), np.float32))).encode() + b" " * 270000
    status, _, _ = server.request("POST", "/v2/models/add/infer", body)
    assert status == 413
    assert server.post_json("/v2/models/add/infer", infer_doc([[1, 2, 3, 4]]))[0] == 200


def raw_post(port, path, body):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    return s


def test_disconnecting_client_request_is_dropped(server):
    # Enough queued work (one request at a time) to keep the worker busy for about a second on any machine.
    t0 = time.time()
    assert server.post_json("/v2/models/slow_plain/infer", slow_doc())[0] == 200
    n_busy = max(2, min(32, math.ceil(1.0 / max(time.time() - t0, 1e-3))))
    before = server.stats("slow_plain")
    with ThreadPoolExecutor(n_busy) as pool:
        busy = [pool.submit(server.post_json, "/v2/models/slow_plain/infer", slow_doc()) for _ in range(n_busy)]
        time.sleep(0.05)
        socks = [raw_post(server.http_port, "/v2/models/slow_plain/infer", json.dumps(slow_doc()).encode())
                 for _ in range(3)]
        time.sleep(0.2)  # the server has read them; they wait behind the busy requests
        for sock in socks:
            sock.close()
        assert [f.result()[0] for f in busy] == [200] * n_busy
    deadline = time.time() + 30
    while time.time() < deadline:
        s = server.stats("slow_plain")
        if s["pending_request_count"] == 0 and s["failures_by_reason"].get("CANCELED", 0) >= 1:
            break
        time.sleep(0.05)
    canceled = s["failures_by_reason"].get("CANCELED", 0)
    ran = s["inference_count"] - before["inference_count"]
    assert 1 <= canceled <= 3, s
    assert ran == SLOW_ROWS * n_busy, s  # the disconnected clients' requests never ran
    assert server.post_json("/v2/models/add/infer", infer_doc([[1, 2, 3, 4]]))[0] == 200


EAGER = 'optimization { eager_batching: true }\n'


@pytest.mark.parametrize("eager", [False, True], ids=["plain", "eager_batching"])
def test_unload_under_load(kiln_bin, tmp_path, eager):
    add_model(tmp_path, config=None if not eager else (
        'name: "add"\nmax_batch_size: 64\ninput [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
        'output [ { name: "y" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
        'dynamic_batching { max_queue_delay_microseconds: 2000 }\n' + EAGER))
    s = Server(kiln_bin, tmp_path, "--model-control-mode", "explicit", "--load-model", "add")
    try:
        stop = threading.Event()
        codes, errors = [], []

        def client():
            import http.client
            conn = http.client.HTTPConnection("127.0.0.1", s.http_port, timeout=30)
            body = json.dumps(infer_doc([[1, 2, 3, 4]])).encode()
            while not stop.is_set():
                try:
                    conn.request("POST", "/v2/models/add/infer", body)
                    r = conn.getresponse()
                    data = json.loads(r.read())
                    if r.status == 200:
                        assert output(data).tolist() == [[2, 4, 6, 8]]
                    codes.append(r.status)
                except Exception as e:  # noqa: BLE001 - any transport error fails the test below
                    errors.append(repr(e))
                    return

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        status, _, body = s.request("POST", "/v2/repository/models/add/unload", b"")
        assert status == 200, body
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        assert codes.count(200) > 50
        assert set(codes) <= {200, 503}, set(codes)
        assert codes[-1] == 503
        assert s.request("GET", "/v2/models/add/ready")[0] == 400
        index = json.loads(s.request("POST", "/v2/repository/index", b"")[2])
        assert index == [{"name": "add", "state": "UNAVAILABLE", "reason": "unloaded"}]
        assert s.request("POST", "/v2/repository/models/add/load", b"")[0] == 200
        assert s.post_json("/v2/models/add/infer", infer_doc([[1, 2, 3, 4]]))[0] == 200
    finally:
        assert s.stop() == 0


def test_unload_frees_memory(kiln_bin, tmp_path):
    mib = 128
    big_model(tmp_path, mib=mib)
    s = Server(kiln_bin, tmp_path, "--model-control-mode", "explicit")
    try:
        base = s.rss_bytes()
        status, _, body = s.request("POST", "/v2/repository/models/big/load", b"", timeout=300)
        assert status == 200, body
        loaded = s.rss_bytes()
        assert loaded - base > mib * (1 << 20) * 0.8, (base, loaded)
        assert s.request("POST", "/v2/repository/models/big/unload", b"")[0] == 200
        after = s.rss_bytes()
        assert after - base < mib * (1 << 20) * 0.25, (base, loaded, after)
    finally:
        assert s.stop() == 0


@pytest.mark.parametrize("eager", [False, True], ids=["plain", "eager_batching"])
def test_sigterm_drains_in_flight_requests(kiln_bin, tmp_path, eager):
    # With eager batching a batch can be assembled and waiting for the runner when the signal comes: it runs too.
    slow_model(tmp_path, "slow", config=None if not eager else (
        'name: "slow"\nmax_batch_size: 16\ninput [ { name: "x" data_type: TYPE_FP32 dims: [ 256 ] } ]\n'
        'output [ { name: "y" data_type: TYPE_FP32 dims: [ 256 ] } ]\n'
        'instance_group [ { count: 1 kind: KIND_CPU } ]\n' + EAGER))
    s = Server(kiln_bin, tmp_path)
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(s.post_json, "/v2/models/slow/infer", slow_doc(8)) for _ in range(6)]
        deadline = time.time() + 30
        while time.time() < deadline:  # every request received, some still queued or running
            st = s.stats("slow")
            if st["pending_request_count"] + st["inference_stats"]["success"]["count"] == 6:
                break
            time.sleep(0.005)
        assert st["pending_request_count"] >= 2, st
        rc = s.stop()
        results = [f.result() for f in futures]
    assert rc == 0
    assert [r[0] for r in results] == [200] * 6, [r[0] for r in results]
    for _, doc in results:
        assert output(doc).shape == (8, 256)
    msgs = [r.get("msg") for r in s.logs]
    assert "signal received: draining" in msgs and msgs[-1] == "stopped"
