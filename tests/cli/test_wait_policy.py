"""The OpenMP wait policy the kiln CLI restarts with (tools/kiln/main.cc, docs/cpu-backend.md): KILN_OMP_WAIT
forces spin (GOMP_SPINCOUNT) or passive; `serve` is passive; a user's own policy and --threads 1 are left alone;
a machine kept busy by other processes gets passive. Read from the running process's environment."""
import os
import subprocess
import time

import onnx
import pytest
from onnx import TensorProto, helper


@pytest.fixture(scope="module")
def engine(kiln_bin, tmp_path_factory):
    d = tmp_path_factory.mktemp("wait")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [64, 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [64, 64])
    g = helper.make_graph([helper.make_node("MatMul", ["x", "x"], ["y"])], "g", [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(d / "m.onnx"))
    out = subprocess.run([kiln_bin, "build", str(d / "m.onnx"), "-o", str(d / "m.kiln"), "--device", "cpu"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return str(d / "m.kiln")


def policy_of(kiln_bin, engine, extra_env, *args):
    """The OMP_WAIT_POLICY / GOMP_SPINCOUNT that `kiln bench` runs with (its environment after the restart)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KILN_OMP_WAIT")}
    env.update(extra_env)
    p = subprocess.Popen([kiln_bin, "bench", engine, "--duration", "1.5", *args], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        found = {}
        deadline = time.time() + 1.2
        while time.time() < deadline:
            time.sleep(0.2)
            try:
                with open(f"/proc/{p.pid}/environ", "rb") as f:
                    items = [kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv]
            except OSError:
                continue
            found = {k.decode(): v.decode() for k, v in items if k in (b"OMP_WAIT_POLICY", b"GOMP_SPINCOUNT")}
            if found:
                break
        return found
    finally:
        p.wait(timeout=60)


def test_forced_spin_and_passive(kiln_bin, engine):
    assert policy_of(kiln_bin, engine, {"KILN_OMP_WAIT": "spin"}, "--threads", "2") == {"GOMP_SPINCOUNT": "10000"}
    assert policy_of(kiln_bin, engine, {"KILN_OMP_WAIT": "passive"}, "--threads", "2") == {"OMP_WAIT_POLICY": "PASSIVE"}


def test_users_policy_and_one_thread_are_left_alone(kiln_bin, engine):
    assert policy_of(kiln_bin, engine, {"OMP_WAIT_POLICY": "active"}, "--threads", "2") == {"OMP_WAIT_POLICY": "active"}
    assert policy_of(kiln_bin, engine, {"GOMP_SPINCOUNT": "5"}, "--threads", "2") == {"GOMP_SPINCOUNT": "5"}
    assert policy_of(kiln_bin, engine, {}, "--threads", "1") == {}


def test_busy_machine_gets_passive(kiln_bin, engine):
    hogs = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(os.cpu_count() or 1)]
    try:
        time.sleep(0.3)
        assert policy_of(kiln_bin, engine, {}, "--threads", "2") == {"OMP_WAIT_POLICY": "PASSIVE"}
    finally:
        for h in hogs:
            h.kill()
            h.wait()
