"""kiln serve model repository: engine cache (reuse, stale rebuild, corrupt rebuild), explicit load/unload,
poll mode, version folders, warmup, priority levels."""
import glob
import json
import os
import shutil
import time

import numpy as np

from serve_util import Server, add_model, infer_doc, output, write


def cache_files(repo, model="add", version=1):
    return sorted(glob.glob(os.path.join(str(repo), model, str(version), "model.*.kiln")))


def test_engine_cache_reused_and_rebuilt_when_stale(kiln_bin, tmp_path):
    add_model(tmp_path)
    s = Server(kiln_bin, tmp_path, "--model-control-mode", "explicit", "--load-model", "add")
    try:
        first = cache_files(tmp_path)
        assert len(first) == 1
        assert any(r.get("msg") == "compiling model" for r in s.logs)
        # Reload with unchanged files: the cached engine is loaded, not recompiled.
        n_compiles = sum(r.get("msg") == "compiling model" for r in s.logs)
        assert s.request("POST", "/v2/repository/models/add/load", b"")[0] == 200
        assert sum(r.get("msg") == "compiling model" for r in s.logs) == n_compiles
        assert any(r.get("msg") == "loaded cached engine" for r in s.logs)
        # A changed model hashes to another key: the stale cache is removed, never loaded.
        add_model(tmp_path, const=(5, 5, 5, 5))
        assert s.request("POST", "/v2/repository/models/add/load", b"")[0] == 200
        second = cache_files(tmp_path)
        assert len(second) == 1 and second != first
        status, doc = s.post_json("/v2/models/add/infer", infer_doc([[1, 1, 1, 1]]))
        assert status == 200 and output(doc).tolist() == [[6, 6, 6, 6]]
        # A corrupt cache file under the right key is rebuilt.
        with open(second[0], "wb") as f:
            f.write(b"garbage")
        assert s.request("POST", "/v2/repository/models/add/load", b"")[0] == 200
        assert any(r.get("msg") == "engine cache unusable, rebuilding" for r in s.logs)
        assert os.path.getsize(second[0]) > 100
        assert s.post_json("/v2/models/add/infer", infer_doc([[1, 1, 1, 1]]))[0] == 200
    finally:
        assert s.stop() == 0


def test_explicit_mode_loads_only_named_models(kiln_bin, tmp_path):
    add_model(tmp_path, "a")
    add_model(tmp_path, "b")
    s = Server(kiln_bin, tmp_path, "--model-control-mode", "explicit", "--load-model", "a")
    try:
        index = json.loads(s.request("POST", "/v2/repository/index", b"")[2])
        assert {e["name"]: e["state"] for e in index} == {"a": "READY", "b": "UNAVAILABLE"}
        assert s.get_json("/v2/models/b")[0] == 404
        assert s.request("POST", "/v2/repository/models/b/load", b"")[0] == 200
        assert s.post_json("/v2/models/b/infer", infer_doc([[0, 0, 0, 0]]))[0] == 200
        status, doc = s.post_json("/v2/repository/models/zzz/load", {})
        assert status == 404 and "zzz" in doc["error"]
        assert s.request("POST", "/v2/repository/models/..%2Fetc/load", b"")[0] == 404
        # A model whose config breaks is unloaded with the reason; the others keep serving.
        write(os.path.join(str(tmp_path), "b", "config.pbtxt"), 'name: "b"\nmax_batch_size: -1\n')
        status, doc = s.post_json("/v2/repository/models/b/load", {})
        assert status == 400 and "max_batch_size" in doc["error"] and "b/config.pbtxt" in doc["error"]
        assert s.get_json("/v2/models/b")[0] == 503
        assert s.post_json("/v2/models/a/infer", infer_doc([[0, 0, 0, 0]]))[0] == 200
    finally:
        assert s.stop() == 0


def test_poll_mode_picks_up_new_changed_and_removed_models(kiln_bin, tmp_path):
    add_model(tmp_path, "a")
    s = Server(kiln_bin, tmp_path, "--model-control-mode", "poll", "--repository-poll-secs", "1")

    def wait_for(pred, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred():
                return True
            time.sleep(0.1)
        return False

    try:
        add_model(tmp_path, "late")
        assert wait_for(lambda: s.request("GET", "/v2/models/late/ready")[0] == 200)
        time.sleep(0.05)
        add_model(tmp_path, "a", const=(7, 7, 7, 7))
        assert wait_for(lambda: output(s.post_json("/v2/models/a/infer", infer_doc([[0, 0, 0, 0]]))[1]).tolist()
                        == [[7, 7, 7, 7]])
        shutil.rmtree(os.path.join(str(tmp_path), "late"))
        assert wait_for(lambda: s.get_json("/v2/models/late")[0] == 404)
    finally:
        assert s.stop() == 0


def test_version_policy_warmup_and_priorities(kiln_bin, tmp_path):
    for v in (1, 2, 3):
        add_model(tmp_path, "pv", const=(v, v, v, v), version=v,
                  config='name: "pv"\nmax_batch_size: 8\nversion_policy { specific { versions: [ 1, 3 ] } }\n'
                         'dynamic_batching { priority_levels: 2 default_priority_level: 2 }\n'
                         'model_warmup [ { name: "w" batch_size: 2 inputs { key: "x" value: '
                         '{ data_type: TYPE_FP32 dims: [ 4 ] zero_data: true } } count: 3 } ]\n')
    os.makedirs(os.path.join(str(tmp_path), "pv", "0"))  # ignored: version folders may not start with 0
    os.makedirs(os.path.join(str(tmp_path), "pv", "notaversion"))
    s = Server(kiln_bin, tmp_path)
    try:
        assert s.get_json("/v2/models/pv")[1]["versions"] == ["1", "3"]
        assert s.get_json("/v2/models/pv/versions/2")[0] == 404
        x = np.zeros((1, 4), np.float32)
        status, doc = s.post_json("/v2/models/pv/infer", infer_doc(x, parameters={"priority": 1}))
        assert status == 200 and output(doc).tolist() == [[3, 3, 3, 3]]
        assert s.post_json("/v2/models/pv/versions/1/infer", infer_doc(x, parameters={"priority": 2}))[0] == 200
        # Triton: a priority above priority_levels runs at the default level; only a negative one is 400.
        assert s.post_json("/v2/models/pv/infer", infer_doc(x, parameters={"priority": 3}))[0] == 200
        assert s.post_json("/v2/models/pv/infer", infer_doc(x, parameters={"priority": -3}))[0] == 400
    finally:
        assert s.stop() == 0


def test_bad_warmup_fails_the_load(kiln_bin, tmp_path):
    add_model(tmp_path, "w", config='name: "w"\nmax_batch_size: 8\n'
                                    'model_warmup [ { name: "bad" batch_size: 1 inputs { key: "x" value: '
                                    '{ data_type: TYPE_FP32 dims: [ 5 ] zero_data: true } } } ]\n')
    add_model(tmp_path, "ok")
    s = Server(kiln_bin, tmp_path)
    try:
        index = {e["name"]: e for e in json.loads(s.request("POST", "/v2/repository/index", b"")[2])}
        assert index["w"]["state"] == "UNAVAILABLE" and "warmup" in index["w"]["reason"]
        assert index["ok"]["state"] == "READY"
    finally:
        assert s.stop() == 0


def test_missing_repository_fails_startup(kiln_bin, tmp_path):
    import subprocess
    r = subprocess.run([kiln_bin, "serve", "--model-repository", str(tmp_path / "nope"), "--http-port", "0",
                        "--grpc-port", "0", "--metrics-port", "0"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "not a directory" in r.stderr


def test_busy_port_fails_startup(kiln_bin, tmp_path):
    import subprocess
    add_model(tmp_path)
    s = Server(kiln_bin, tmp_path)
    try:
        r = subprocess.run([kiln_bin, "serve", "--model-repository", str(tmp_path), "--http-port", str(s.http_port),
                            "--grpc-port", "0", "--metrics-port", "0"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 1 and "Address already in use" in r.stderr
        assert s.request("GET", "/v2/health/ready")[0] == 200
    finally:
        assert s.stop() == 0
