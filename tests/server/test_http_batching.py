"""Dynamic batcher behaviour seen through the statistics: preferred sizes run at once, the queue delay bounds the
wait, and only requests with identical non-batch dims share a batch."""
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from onnx import TensorProto, helper

from serve_util import Server, add_model, infer_doc, output, save_model, slow_model, write


@pytest.fixture(scope="module")
def server(kiln_bin, tmp_path_factory):
    repo = tmp_path_factory.mktemp("batching")
    add_model(repo, "pref", config='name: "pref"\nmax_batch_size: 8\n'
                                   'dynamic_batching { preferred_batch_size: [ 4 ] '
                                   'max_queue_delay_microseconds: 3000000 }\n'
                                   'instance_group [ { count: 1 kind: KIND_CPU } ]\n')
    # A few ms per row: requests pile up in the queue while a batch runs.
    slow_model(repo, "pref_many", config='name: "pref_many"\nmax_batch_size: 8\n'
                                                   'dynamic_batching { preferred_batch_size: [ 4 ] '
                                                   'max_queue_delay_microseconds: 500000 }\n'
                                                   'instance_group [ { count: 1 kind: KIND_CPU } ]\n')
    add_model(repo, "delay", config='name: "delay"\nmax_batch_size: 8\n'
                                    'dynamic_batching { max_queue_delay_microseconds: 300000 }\n')
    # y = x * 2 on [batch, n] with a variable n: only equal n may share a batch.
    two = helper.make_tensor("two", TensorProto.FLOAT, [1], [2.0])
    g = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["y"])], "ragged",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "n"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "n"])], [two])
    save_model(g, os.path.join(str(repo), "ragged", "1", "model.onnx"))
    write(os.path.join(str(repo), "ragged", "config.pbtxt"),
          'name: "ragged"\nmax_batch_size: 16\ndynamic_batching { max_queue_delay_microseconds: 200000 }\n'
          'input [ { name: "x" data_type: TYPE_FP32 dims: [ -1 ] } ]\n'
          'instance_group [ { count: 1 kind: KIND_CPU } ]\n')
    # Eager batching: the next batch is formed and assembled while one runs (two buffer sets per instance).
    eager = ('optimization { eager_batching: true }\n'
             'instance_group [ { count: 1 kind: KIND_CPU } ]\n')
    slow_model(repo, "eager_slow", width=64, layers=4,
               config='name: "eager_slow"\nmax_batch_size: 8\n'
                      'dynamic_batching { preferred_batch_size: [ 4, 8 ] max_queue_delay_microseconds: 2000 }\n'
                      + eager)
    s = Server(kiln_bin, repo)
    yield s
    assert s.stop() == 0


def concurrent(server, model, docs):
    with ThreadPoolExecutor(len(docs)) as pool:
        return list(pool.map(lambda d: server.post_json(f"/v2/models/{model}/infer", d), docs))


def test_preferred_batch_size_runs_without_waiting_for_the_delay(server):
    start = time.time()
    results = concurrent(server, "pref", [infer_doc([[i, 0, 0, 0]]) for i in range(4)])
    elapsed = time.time() - start
    assert [r[0] for r in results] == [200] * 4
    for i, (_, doc) in enumerate(results):
        assert output(doc).tolist() == [[i + 1, 2, 3, 4]]
    assert elapsed < 2.5, elapsed  # the 3 s delay was cut short by the preferred size
    st = server.stats("pref")
    assert [b["batch_size"] for b in st["batch_stats"]] == [4] and st["execution_count"] == 1


def test_more_than_a_preferred_size_queued_runs_the_preferred_size(server):
    # Ten single-row requests at once: whenever four or more are queued, four run at once (not everything queued
    # after the delay, which a GPU engine would pad up to max_batch_size); the rest wait for the delay.
    results = concurrent(server, "pref_many", [infer_doc(np.full((1, 256), i / 10, np.float32)) for i in range(10)])
    assert [r[0] for r in results] == [200] * 10
    outs = [output(doc) for _, doc in results]
    assert all(o.shape == (1, 256) for o in outs)
    assert len({o.tobytes() for o in outs}) == 10  # each request got its own row back
    st = server.stats("pref_many")
    sizes = [b["batch_size"] for b in st["batch_stats"]]
    assert max(sizes) <= 4, st["batch_stats"]
    assert st["inference_count"] == 10


def test_queue_delay_bounds_the_wait(server):
    start = time.time()
    status, doc = server.post_json("/v2/models/delay/infer", infer_doc([[1, 1, 1, 1]]))
    elapsed = time.time() - start
    assert status == 200 and 0.25 <= elapsed < 2.0, elapsed
    st = server.stats("delay")
    assert st["inference_stats"]["queue"]["ns"] >= 250_000_000


def test_only_identical_shapes_share_a_batch(server):
    docs = []
    for i in range(6):
        n = 2 if i % 2 == 0 else 3
        docs.append(infer_doc(np.full((1, n), i, np.float32)))
    docs.append(infer_doc(np.full((2, 2), 9, np.float32)))  # 2 rows of n=2
    results = concurrent(server, "ragged", docs)
    assert [r[0] for r in results] == [200] * len(docs)
    for d, (_, doc) in zip(docs, results):
        x = np.array(d["inputs"][0]["data"]).reshape(d["inputs"][0]["shape"])
        assert output(doc).tolist() == (x * 2).tolist()
    st = server.stats("ragged")
    assert st["inference_count"] == 8
    assert st["execution_count"] >= 2  # n=2 and n=3 never mix
    assert st["execution_count"] < 7  # but equal shapes were merged


def slow_chain(x, width=64, layers=4):
    """What serve_util.slow_model computes (float64, as the reference backend does), cast to float32."""
    h = x.astype(np.float64)
    for i in range(layers):
        h = h @ (np.random.RandomState(i).randn(width, width) * 0.05).astype(np.float32).astype(np.float64)
    return h.astype(np.float32)


def test_eager_batching_answers_every_request_with_its_own_rows(server):
    # 48 requests of 1-3 rows at once on one instance that forms and assembles batch N+1 (in the other buffer set)
    # while batch N runs: every request must get exactly its rows back, and batches must still form.
    rng = np.random.RandomState(5)
    xs = [rng.rand(1 + i % 3, 64).astype(np.float32) for i in range(48)]
    results = concurrent(server, "eager_slow", [infer_doc(x) for x in xs])
    assert [r[0] for r in results] == [200] * len(xs)
    for x, (_, doc) in zip(xs, results):
        np.testing.assert_allclose(output(doc), slow_chain(x), rtol=1e-5, atol=1e-6)
    placed = [r for r in server.logs if r.get("msg") == "model instances placed" and r.get("model") == "eager_slow"]
    assert placed and placed[-1]["eager_batching"] == "on", placed
    st = server.stats("eager_slow")
    assert st["inference_count"] == sum(len(x) for x in xs)
    assert st["execution_count"] < len(xs)  # requests shared batches
    assert max(b["batch_size"] for b in st["batch_stats"]) > 1
