"""kiln build --backend and kiln inspect's per-node plan: the oracle backend, unknown backends, fallback notes, and
engines of an older format refused with the rebuild message."""
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper


def run_kiln(kiln_bin, *args):
    return subprocess.run([kiln_bin, *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    work = tmp_path_factory.mktemp("backend_cli")
    nodes = [helper.make_node("Relu", ["x"], ["h"], name="relu0"), helper.make_node("Cos", ["h"], ["y"], name="cos0")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    path = work / "relu_cos.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    np.save(work / "x.npy", np.arange(6, dtype=np.float32).reshape(2, 3) - 2)
    return work, path


def test_reference_backend_plans_every_node_on_the_oracle(kiln_bin, model):
    work, path = model
    engine = work / "ref.kiln"
    p = run_kiln(kiln_bin, "build", path, "-o", engine, "--backend", "reference")
    assert p.returncode == 0, p.stderr
    assert "backend reference" in p.stdout
    out = run_kiln(kiln_bin, "inspect", engine).stdout
    assert "relu0  Relu  backend=reference kernel=reference" in out
    assert "Placement: reference=2" in out
    run = run_kiln(kiln_bin, "run", engine, "-i", f"x={work / 'x.npy'}")
    assert run.returncode == 0, run.stderr
    assert "y: float32[2x3]" in run.stdout


def test_default_cpu_engine_names_a_backend_per_node(kiln_bin, model):
    work, path = model
    engine = work / "cpu.kiln"
    p = run_kiln(kiln_bin, "build", path, "-o", engine)
    assert p.returncode == 0, p.stderr
    out = run_kiln(kiln_bin, "inspect", engine).stdout
    assert "backend: cpu" in out
    for line in out.splitlines():
        if "  relu0  " in line or "  cos0  " in line:
            assert "backend=cpu" in line or "backend=reference" in line, line
    # A node the CPU backend refused says why.
    if "cos0  Cos  backend=reference" in out:
        assert "fell back: cpu:" in out


def test_unknown_backend_is_one_clear_error(kiln_bin, model):
    work, path = model
    p = run_kiln(kiln_bin, "build", path, "-o", work / "x.kiln", "--backend", "warp9")
    assert p.returncode != 0
    assert "unknown --backend 'warp9'" in p.stderr and "reference" in p.stderr, p.stderr


@pytest.mark.parametrize("cmd", ["run", "inspect"])
def test_older_engine_format_is_refused_with_rebuild_message(kiln_bin, model, cmd):
    work, path = model
    engine = work / "new.kiln"
    assert run_kiln(kiln_bin, "build", path, "-o", engine, "--backend", "reference").returncode == 0
    data = bytearray(engine.read_bytes())
    data[8:12] = (2).to_bytes(4, "little")
    old = work / "old.kiln"
    old.write_bytes(bytes(data))
    p = run_kiln(kiln_bin, cmd, old, "-i", f"x={work / 'x.npy'}") if cmd == "run" else run_kiln(kiln_bin, cmd, old)
    assert p.returncode != 0
    assert "old.kiln" in p.stderr and "version 2 is older" in p.stderr and "rebuild the engine" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr and "terminate" not in p.stderr
