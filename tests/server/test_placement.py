"""Multi-GPU placement with simulated devices: KILN_SIMULATED_GPUS=N (test only) makes `kiln serve` believe N GPUs
exist and run each one's instances on the CPU backend. instance_group { count, kind, gpus } -> count instances on
each listed GPU, batches spread over every device, a GPU that does not exist is a config error naming the field."""
import json
import os
import threading

import numpy as np
import pytest

from serve_util import Server, add_model, infer_doc, metric_value, output, slow_model


@pytest.fixture(scope="module")
def server(kiln_bin, tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    slow_model(repo, "spread", config='name: "spread"\nmax_batch_size: 4\n'
                                      'input [ { name: "x" data_type: TYPE_FP32 dims: [ 256 ] } ]\n'
                                      'output [ { name: "y" data_type: TYPE_FP32 dims: [ 256 ] } ]\n'
                                      'instance_group [ { count: 2 kind: KIND_GPU gpus: [ 0, 1 ] } ]\n')
    add_model(repo, "all_gpus", config='name: "all_gpus"\nmax_batch_size: 8\n'
                                       'instance_group [ { count: 1 kind: KIND_GPU } ]\n')
    add_model(repo, "groups", config='name: "groups"\nmax_batch_size: 8\n'
                                     'instance_group [ { count: 1 kind: KIND_GPU gpus: [ 1 ] },'
                                     ' { count: 2 kind: KIND_GPU gpus: [ 0 ] } ]\n')
    add_model(repo, "auto", config='name: "auto"\nmax_batch_size: 8\ninstance_group [ { count: 1 kind: KIND_AUTO } ]\n')
    add_model(repo, "bad_gpu", config='name: "bad_gpu"\nmax_batch_size: 8\n'
                                      'instance_group [ { count: 1 kind: KIND_GPU gpus: [ 0, 7 ] } ]\n')
    add_model(repo, "on_cpu", config='name: "on_cpu"\nmax_batch_size: 8\n'
                                     'instance_group [ { count: 3 kind: KIND_CPU } ]\n')
    env = dict(os.environ, KILN_SIMULATED_GPUS="2")
    s = Server(kiln_bin, repo, env=env)
    yield s
    assert s.stop() == 0


def placed(server, model):
    for rec in server.logs:
        if rec.get("msg") == "model instances placed" and rec.get("model") == model:
            return rec
    return None


def test_count_on_each_listed_gpu(server):
    rec = placed(server, "spread")
    assert rec is not None, server.logs
    assert rec["instances"] == "4" and rec["devices"] == "gpu0:2,gpu1:2" and rec["simulated_gpus"] == "2", rec
    status, cfg = server.get_json("/v2/models/spread/config")
    assert status == 200
    (group,) = cfg["instance_group"]
    assert group["kind"] == "KIND_GPU" and group["count"] == 2 and group["gpus"] == [0, 1], group
    metrics = server.metrics()
    for d in ("gpu0", "gpu1"):
        assert metric_value(metrics, "kiln_device_instance_count", model="spread", device=d) == 2


def test_gpus_absent_means_every_gpu_and_groups_add_up(server):
    assert placed(server, "all_gpus")["devices"] == "gpu0:1,gpu1:1"
    rec = placed(server, "groups")
    assert rec["instances"] == "3" and rec["devices"] == "gpu0:2,gpu1:1", rec
    status, cfg = server.get_json("/v2/models/groups/config")
    assert [(g["count"], g["gpus"]) for g in cfg["instance_group"]] == [(1, [1]), (2, [0])]
    assert placed(server, "auto")["devices"] == "gpu0:1,gpu1:1"  # KIND_AUTO: GPUs when there are any
    status, cfg = server.get_json("/v2/models/auto/config")
    assert cfg["instance_group"][0]["kind"] == "KIND_GPU" and cfg["instance_group"][0]["gpus"] == [0, 1]
    assert placed(server, "on_cpu")["devices"] == "cpu:3"


def test_load_spreads_across_devices(server):
    """Under concurrency every device's instances execute batches, and every response is correct."""
    w = [(np.random.RandomState(i).randn(256, 256) * 0.05).astype(np.float32) for i in range(16)]
    errors = []

    def client(seed):
        rng = np.random.RandomState(seed)
        for _ in range(6):
            x = rng.randn(1, 256).astype(np.float32)
            status, doc = server.post_json("/v2/models/spread/infer", infer_doc(x))
            if status != 200:
                errors.append(doc)
                continue
            want = x
            for m in w:
                want = want @ m
            if not np.allclose(output(doc), want, rtol=1e-3, atol=1e-4):
                errors.append("wrong result")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    metrics = server.metrics()
    per_device = [metric_value(metrics, "kiln_device_exec_count", model="spread", device=d) for d in ("gpu0", "gpu1")]
    assert all(n and n > 0 for n in per_device), per_device
    total = metric_value(metrics, "kiln_inference_exec_count", model="spread")
    assert sum(per_device) == total
    rows = [metric_value(metrics, "kiln_device_inference_count", model="spread", device=d) for d in ("gpu0", "gpu1")]
    assert sum(rows) == 16 * 6


def test_missing_gpu_is_a_config_error_others_load(server):
    status, _, body = server.request("POST", "/v2/repository/index", b"")
    entries = {e["name"]: e for e in json.loads(body)}
    bad = entries["bad_gpu"]
    assert bad["state"] == "UNAVAILABLE", bad
    assert "bad_gpu/config.pbtxt" in bad["reason"] and "instance_group[0].gpus" in bad["reason"], bad
    assert "GPU 7 does not exist" in bad["reason"], bad
    for name in ("spread", "all_gpus", "groups", "auto", "on_cpu"):
        assert entries[name]["state"] == "READY", entries[name]
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    status, doc = server.post_json("/v2/models/groups/infer", infer_doc(x))
    assert status == 200 and np.allclose(output(doc), x + np.array([1, 2, 3, 4], np.float32)), doc
