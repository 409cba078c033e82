"""Bounded load test: 20,000 HTTP inferences at concurrency 64, every response checked, none lost; the dynamic
batcher must have merged requests (fewer executions than inferences)."""
import http.client
import json
import threading

import numpy as np

from serve_util import Server, add_model

TOTAL = 20_000
CONCURRENCY = 64
CONST = np.array([1, 2, 3, 4], np.float32)


def test_20000_requests_at_concurrency_64(kiln_bin, tmp_path):
    add_model(tmp_path, config='name: "add"\nmax_batch_size: 64\n'
                               'dynamic_batching { max_queue_delay_microseconds: 500 }\n'
                               'instance_group [ { count: 2 kind: KIND_CPU } ]\n')
    s = Server(kiln_bin, tmp_path)
    try:
        next_index = iter(range(TOTAL))
        lock = threading.Lock()
        ok, failures = [0], []

        def client():
            conn = http.client.HTTPConnection("127.0.0.1", s.http_port, timeout=60)
            while True:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    break
                x = [float(i), float(-i), i / 4.0, 1.0]
                body = json.dumps({"id": str(i), "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4],
                                                             "data": x}]})
                try:
                    conn.request("POST", "/v2/models/add/infer", body, {"Content-Type": "application/json"})
                    r = conn.getresponse()
                    doc = json.loads(r.read())
                except Exception as e:  # noqa: BLE001 - recorded and asserted below
                    failures.append((i, repr(e)))
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", s.http_port, timeout=60)
                    continue
                expect = (np.array(x, np.float32) + CONST).tolist()
                if r.status != 200 or doc.get("id") != str(i) or doc["outputs"][0]["data"] != expect:
                    failures.append((i, r.status, doc))
                else:
                    with lock:
                        ok[0] += 1
            conn.close()

        threads = [threading.Thread(target=client) for _ in range(CONCURRENCY)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures, failures[:5]
        assert ok[0] == TOTAL
        st = s.stats("add")
        assert st["inference_stats"]["success"]["count"] == TOTAL
        assert st["inference_count"] == TOTAL
        assert st["execution_count"] < TOTAL, st  # requests were batched together
        assert st["inference_stats"]["fail"]["count"] == 0
        assert st["pending_request_count"] == 0
    finally:
        assert s.stop() == 0
