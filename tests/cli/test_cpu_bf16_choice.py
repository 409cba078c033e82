"""kiln build --precision bf16 on the CPU: with native bf16 (AVX512-BF16 or AMX) the build times whole runs with
convolutions and matmuls each in bf16 or float32, prints one line about it and records the choice per node
(kiln inspect: precision=bfloat16 or float32 on every onednn_conv / onednn_matmul node); --opt-level 0 skips the
timing; the engine's answer stays within bf16's budget of ONNX Runtime's. Without native bf16 nothing is timed.
--precision best means bf16 on such CPUs and fp32 elsewhere."""
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

LINE = "kiln build: bf16 or float32 per kernel class"


def native_bf16():
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def run_kiln(kiln_bin, *args):
    return subprocess.run([kiln_bin, *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    work = tmp_path_factory.mktemp("cpu_bf16_choice")
    rng = np.random.default_rng(3)
    w1 = numpy_helper.from_array(rng.uniform(-0.2, 0.2, (32, 16, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.uniform(-0.2, 0.2, (32, 32, 1, 1)).astype(np.float32), "w2")
    fc = numpy_helper.from_array(rng.uniform(-0.1, 0.1, (32, 10)).astype(np.float32), "fc")
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2"),
             helper.make_node("GlobalAveragePool", ["c2"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["f"], name="flat"),
             helper.make_node("MatMul", ["f", "fc"], ["y"], name="head")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 16, 20, 20])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 10])], [w1, w2, fc])
    path = work / "conv_head.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    x = rng.uniform(-1, 1, (2, 16, 20, 20)).astype(np.float32)
    np.save(work / "x.npy", x)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    return work, path, want


def node_precisions(kiln_bin, engine):
    out = run_kiln(kiln_bin, "inspect", engine).stdout
    return {name: [t.split("=", 1)[1] for t in line.split() if t.startswith("precision=")]
            for line in out.splitlines() for name in ("conv1", "conv2", "head") if f"  {name}  " in line}


def test_bf16_build_times_the_choice_and_records_it(kiln_bin, model):
    work, path, want = model
    engine = work / "bf16.kiln"
    p = run_kiln(kiln_bin, "build", path, "-o", engine, "--device", "cpu", "--precision", "bf16")
    assert p.returncode == 0, p.stderr
    precisions = node_precisions(kiln_bin, engine)
    assert set(precisions) == {"conv1", "conv2", "head"}, precisions
    if not native_bf16():
        assert LINE not in p.stderr
        assert all(v == [] for v in precisions.values()), precisions
    else:
        assert LINE in p.stderr and "keeping" in p.stderr, p.stderr
        assert "convolutions bf16" in p.stderr and "matmuls float32" in p.stderr, p.stderr
        for name, v in precisions.items():
            assert v in (["bfloat16"], ["float32"]), (name, v)
        assert precisions["conv1"] == precisions["conv2"], precisions  # one choice per kernel class
    out = work / "out"
    r = run_kiln(kiln_bin, "run", engine, "-i", f"x={work / 'x.npy'}", "--output-dir", out, "--output-format", "npy")
    assert r.returncode == 0, r.stderr
    got = np.load(out / "y.npy")
    assert np.max(np.abs(got - want)) <= 0.02 * np.max(np.abs(want)) + 1e-3


def test_opt_level_0_does_not_time(kiln_bin, model):
    work, path, _ = model
    engine = work / "bf16_o0.kiln"
    p = run_kiln(kiln_bin, "build", path, "-o", engine, "--device", "cpu", "--precision", "bf16", "--opt-level", "0")
    assert p.returncode == 0, p.stderr
    assert LINE not in p.stderr
    assert all(v == [] for v in node_precisions(kiln_bin, engine).values())


def test_best_is_bf16_where_the_cpu_has_it(kiln_bin, model):
    work, path, want = model
    engine = work / "best.kiln"
    p = run_kiln(kiln_bin, "build", path, "-o", engine, "--device", "cpu", "--precision", "best")
    assert p.returncode == 0, p.stderr
    info = run_kiln(kiln_bin, "inspect", engine).stdout
    assert ("precision: bf16" if native_bf16() else "precision: fp32") in info, info
    assert (LINE in p.stderr) == native_bf16(), p.stderr
    out = work / "out_best"
    r = run_kiln(kiln_bin, "run", engine, "-i", f"x={work / 'x.npy'}", "--output-dir", out, "--output-format", "npy")
    assert r.returncode == 0, r.stderr
    got = np.load(out / "y.npy")
    assert np.max(np.abs(got - want)) <= 0.02 * np.max(np.abs(want)) + 1e-3
