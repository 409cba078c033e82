"""kiln CLI: every bad input must fail with a non-zero exit code, without a crash, and with exactly one
stderr line that names what is at fault. Plus good-path runs with .npy/.pb inputs and odd input names."""
import os
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper


# ---------------------------------------------------------------- helpers

def make_model(nodes, inputs, outputs, opset=17, extra_opsets=(), initializers=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    return model


def vi(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def save(model, path):
    onnx.save(model, str(path))
    return str(path)


def run_kiln(kiln_bin, *args, cwd=None):
    return subprocess.run([kiln_bin, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd)


def expect_error(proc, *must_name):
    """Non-zero exit, no signal, one stderr line that contains every string in must_name."""
    assert proc.returncode >= 0, f"killed by signal {-proc.returncode}; stderr:\n{proc.stderr}"
    assert proc.returncode != 0, f"expected failure, got exit 0; stdout:\n{proc.stdout}"
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one stderr line, got {len(lines)}:\n{proc.stderr}"
    for s in must_name:
        assert s in lines[0], f"stderr line does not name {s!r}: {lines[0]}"
    return lines[0]


def expect_ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}; stderr:\n{proc.stderr}"
    return proc.stdout


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def relu_model(work):
    """y = Relu(x), x: float32[2,3]."""
    return save(make_model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [2, 3])], [vi("y", [2, 3])]),
                work / "relu.onnx")


@pytest.fixture(scope="module")
def sym_model(work):
    """o = a + b with a, b: float32[N,3] sharing the symbol N."""
    return save(make_model([helper.make_node("Add", ["a", "b"], ["o"])], [vi("a", ["N", 3]), vi("b", ["N", 3])],
                           [vi("o", ["N", 3])]), work / "sym.onnx")


@pytest.fixture(scope="module")
def npy(work):
    def write(name, array):
        path = work / name
        np.save(path, array)
        return str(path)
    return write


@pytest.fixture(scope="module")
def x_ok(npy):
    return npy("x_ok.npy", np.arange(-3, 3, dtype=np.float32).reshape(2, 3))


@pytest.fixture(scope="module")
def relu_engine(kiln_bin, work, relu_model):
    path = work / "relu.kiln"
    expect_ok(run_kiln(kiln_bin, "build", relu_model, "-o", path))
    with open(path, "rb") as f:
        return f.read()


def write_bytes(work, name, data):
    path = work / name
    path.write_bytes(data)
    return str(path)


# ---------------------------------------------------------------- not ONNX / bad model files

def test_random_bytes_is_not_onnx(kiln_bin, work, x_ok):
    rng = np.random.default_rng(1234)
    path = write_bytes(work, "random.bin", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    expect_error(run_kiln(kiln_bin, "run", path, "-i", f"x={x_ok}"), "random.bin")


def test_text_file_is_not_onnx(kiln_bin, work, x_ok):
    path = work / "notes.txt"
    path.write_text("this is a text file,\nnot an ONNX model\n")
    expect_error(run_kiln(kiln_bin, "run", path, "-i", f"x={x_ok}"), "notes.txt")


def test_empty_file(kiln_bin, work):
    path = write_bytes(work, "empty.onnx", b"")
    expect_error(run_kiln(kiln_bin, "build", path, "-o", work / "empty.kiln"), "empty.onnx")


def test_truncated_protobuf(kiln_bin, work, relu_model, x_ok):
    data = open(relu_model, "rb").read()
    path = write_bytes(work, "half.onnx", data[: len(data) // 2])
    expect_error(run_kiln(kiln_bin, "run", path, "-i", f"x={x_ok}"), "half.onnx")
    expect_error(run_kiln(kiln_bin, "build", path, "-o", work / "half.kiln"), "half.onnx")


def test_unknown_op(kiln_bin, work, x_ok):
    path = save(make_model([helper.make_node("NoSuchOp", ["x"], ["y"], name="mystery")], [vi("x", [2, 3])],
                           [vi("y", [2, 3])]), work / "unknown_op.onnx")
    expect_error(run_kiln(kiln_bin, "run", path, "-i", f"x={x_ok}"), "unknown_op.onnx", "NoSuchOp", "mystery")


def test_com_microsoft_op(kiln_bin, work, x_ok):
    path = save(make_model([helper.make_node("FastGelu", ["x"], ["y"], domain="com.microsoft")], [vi("x", [2, 3])],
                           [vi("y", [2, 3])], extra_opsets=[("com.microsoft", 1)]), work / "msft.onnx")
    expect_error(run_kiln(kiln_bin, "build", path, "-o", work / "msft.kiln"), "msft.onnx", "FastGelu", "com.microsoft")


# ---------------------------------------------------------------- bad inputs to run

def test_missing_input(kiln_bin, relu_model):
    expect_error(run_kiln(kiln_bin, "run", relu_model), "missing input 'x'")


def test_misnamed_input(kiln_bin, relu_model, x_ok):
    line = expect_error(run_kiln(kiln_bin, "run", relu_model, "-i", f"z={x_ok}"), "'z'")
    assert "x" in line  # lists the model's real input


def test_wrong_dtype(kiln_bin, relu_model, npy):
    path = npy("x_f64.npy", np.zeros((2, 3), np.float64))
    expect_error(run_kiln(kiln_bin, "run", relu_model, "-i", f"x={path}"), "'x'", "float32", "float64")


def test_wrong_rank(kiln_bin, relu_model, npy):
    path = npy("x_rank1.npy", np.zeros((6,), np.float32))
    expect_error(run_kiln(kiln_bin, "run", relu_model, "-i", f"x={path}"), "'x'", "rank")


def test_shape_not_matching_fixed_dims(kiln_bin, relu_model, npy):
    path = npy("x_2x4.npy", np.zeros((2, 4), np.float32))
    expect_error(run_kiln(kiln_bin, "run", relu_model, "-i", f"x={path}"), "'x'", "dim 1")


def test_shapes_flag_not_matching_fixed_dims(kiln_bin, work, relu_model):
    expect_error(run_kiln(kiln_bin, "build", relu_model, "-o", work / "fixed.kiln", "--shapes", "x:2x4"),
                 "'x'", "dim 1", "fixed")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_rejected_by_default(kiln_bin, relu_model, npy, bad):
    a = np.zeros((2, 3), np.float32)
    a[1, 2] = bad
    path = npy(f"x_bad_{abs(hash(str(bad)))}.npy", a)
    line = expect_error(run_kiln(kiln_bin, "run", relu_model, "-i", f"x={path}"), "'x'", "--allow-nonfinite")
    assert ("NaN" if np.isnan(bad) else "Inf") in line
    out = expect_ok(run_kiln(kiln_bin, "run", relu_model, "-i", f"x={path}", "--allow-nonfinite"))
    assert "y:" in out


def test_inconsistent_symbolic_dims(kiln_bin, sym_model, npy):
    a = npy("a_2x3.npy", np.zeros((2, 3), np.float32))
    b = npy("b_4x3.npy", np.zeros((4, 3), np.float32))
    expect_error(run_kiln(kiln_bin, "run", sym_model, "-i", f"a={a}", "-i", f"b={b}"), "'b'", "'N'")


def test_shapes_for_nonexistent_input(kiln_bin, relu_model, x_ok):
    expect_error(run_kiln(kiln_bin, "run", relu_model, "--shapes", "nope:2x3", "-i", f"x={x_ok}"), "'nope'", "--shapes")


def test_shape_outside_profile(kiln_bin, work, sym_model, npy):
    engine = work / "sym_profile.kiln"
    expect_ok(run_kiln(kiln_bin, "build", sym_model, "-o", engine, "--min-shapes", "a:1x3,b:1x3",
                       "--opt-shapes", "a:2x3,b:2x3", "--max-shapes", "a:2x3,b:2x3"))
    big = npy("big_4x3.npy", np.zeros((4, 3), np.float32))
    expect_error(run_kiln(kiln_bin, "run", engine, "-i", f"a={big}", "-i", f"b={big}"), "'a'", "profile")
    ok = npy("ok_2x3.npy", np.ones((2, 3), np.float32))
    expect_ok(run_kiln(kiln_bin, "run", engine, "-i", f"a={ok}", "-i", f"b={ok}"))


def test_tune_batch_sizes_make_one_profile_per_size(kiln_bin, work, sym_model, relu_model, npy):
    engine = work / "sym_batches.kiln"
    expect_ok(run_kiln(kiln_bin, "build", sym_model, "-o", engine, "--tune-batch-sizes", "4,2,4"))
    out = expect_ok(run_kiln(kiln_bin, "inspect", engine))
    assert "Profiles (2)" in out, out
    assert "opt 4x3  max 4x3" in out and "opt 2x3  max 4x3" in out and "min 1x3" in out, out
    big = npy("batches_5x3.npy", np.zeros((5, 3), np.float32))
    expect_error(run_kiln(kiln_bin, "run", engine, "-i", f"a={big}", "-i", f"b={big}"), "'a'", "profile")
    ok = npy("batches_3x3.npy", np.ones((3, 3), np.float32))
    expect_ok(run_kiln(kiln_bin, "run", engine, "-i", f"a={ok}", "-i", f"b={ok}"))
    # A model without a dynamic first dim: the sizes are ignored; explicit --shapes win over them.
    fixed = work / "relu_batches.kiln"
    expect_ok(run_kiln(kiln_bin, "build", relu_model, "-o", fixed, "--tune-batch-sizes", "8"))
    assert "Profiles (0)" in expect_ok(run_kiln(kiln_bin, "inspect", fixed))
    shaped = work / "sym_shapes.kiln"
    expect_ok(run_kiln(kiln_bin, "build", sym_model, "-o", shaped, "--tune-batch-sizes", "8", "--shapes", "a:3x3,b:3x3"))
    assert "Profiles (1)" in expect_ok(run_kiln(kiln_bin, "inspect", shaped))
    bad = run_kiln(kiln_bin, "build", sym_model, "-o", work / "bad.kiln", "--tune-batch-sizes", "0")
    assert bad.returncode > 0 and "--tune-batch-sizes: Value 0 not in range 1 to 1048576" in bad.stderr, bad.stderr


def test_profile_min_greater_than_max(kiln_bin, work, sym_model):
    expect_error(run_kiln(kiln_bin, "build", sym_model, "-o", work / "bad_profile.kiln", "--min-shapes", "a:4x3,b:1x3",
                          "--opt-shapes", "a:2x3,b:2x3", "--max-shapes", "a:2x3,b:2x3"), "'a'", "min <= opt <= max")


@pytest.mark.parametrize("spec,names", [
    ("x:2y3", ["'2y3'"]),
    ("x2x3", ["'x2x3'"]),
    ("x:2x-3", ["'-3'"]),
    (":2x3", ["':2x3'"]),
])
def test_bad_shapes_syntax(kiln_bin, relu_model, x_ok, spec, names):
    expect_error(run_kiln(kiln_bin, "run", relu_model, "--shapes", spec, "-i", f"x={x_ok}"), *names)


def test_bad_input_spec(kiln_bin, relu_model, x_ok):
    expect_error(run_kiln(kiln_bin, "run", relu_model, "-i", x_ok), "--input")


def test_input_file_missing(kiln_bin, work, relu_model):
    expect_error(run_kiln(kiln_bin, "run", relu_model, "-i", f"x={work / 'absent.npy'}"), "'x'", "absent.npy")


def test_input_npy_corrupt(kiln_bin, work, relu_model):
    path = write_bytes(work, "corrupt.npy", b"\x93NUMPY\x01\x00\xff\xff{'descr': '<f4'")
    expect_error(run_kiln(kiln_bin, "run", relu_model, "-i", f"x={path}"), "corrupt.npy")


def test_input_pb_corrupt(kiln_bin, work, relu_model):
    path = write_bytes(work, "corrupt.pb", b"\xff\xff\xff\xff\xff\xff")
    expect_error(run_kiln(kiln_bin, "run", relu_model, "-i", f"x={path}"), "corrupt.pb")


def test_nonexistent_model(kiln_bin, work):
    for cmd in (["run"], ["inspect"], ["bench"]):
        expect_error(run_kiln(kiln_bin, *cmd, work / "does_not_exist.onnx"), "does_not_exist.onnx")
    expect_error(run_kiln(kiln_bin, "build", work / "does_not_exist.onnx", "-o", work / "x.kiln"), "does_not_exist.onnx")


# ---------------------------------------------------------------- engine files

@pytest.mark.parametrize("cmd", ["run", "inspect"])
def test_engine_truncated(kiln_bin, work, relu_engine, cmd):
    path = write_bytes(work, "truncated.kiln", relu_engine[: len(relu_engine) // 2])
    expect_error(run_kiln(kiln_bin, cmd, path), "truncated.kiln", "truncated")


def test_engine_truncated_inside_header(kiln_bin, work, relu_engine):
    path = write_bytes(work, "short.kiln", relu_engine[:20])
    expect_error(run_kiln(kiln_bin, "inspect", path), "short.kiln", "truncated")


@pytest.mark.parametrize("cmd", ["run", "inspect"])
def test_engine_corrupted(kiln_bin, work, relu_engine, cmd):
    data = bytearray(relu_engine)
    data[len(data) // 2] ^= 0x5A
    path = write_bytes(work, "corrupt.kiln", bytes(data))
    expect_error(run_kiln(kiln_bin, cmd, path), "corrupt.kiln", "corrupt")


def test_engine_foreign_png(kiln_bin, work):
    path = write_bytes(work, "image.kiln", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    expect_error(run_kiln(kiln_bin, "inspect", path), "image.kiln")
    expect_error(run_kiln(kiln_bin, "run", path), "image.kiln")


@pytest.mark.parametrize("cmd", ["run", "inspect"])
def test_engine_newer_version(kiln_bin, work, relu_engine, cmd):
    data = bytearray(relu_engine)
    data[8:12] = (99).to_bytes(4, "little")
    path = write_bytes(work, "future.kiln", bytes(data))
    expect_error(run_kiln(kiln_bin, cmd, path), "future.kiln", "version 99")


def test_engine_good_roundtrip(kiln_bin, work, relu_engine, x_ok):
    path = write_bytes(work, "good.kiln", relu_engine)
    out = expect_ok(run_kiln(kiln_bin, "run", path, "-i", f"x={x_ok}"))
    assert "y: float32[2x3]" in out


# ---------------------------------------------------------------- good paths

def test_run_with_npy_and_pb_inputs(kiln_bin, work, sym_model, npy):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.full((2, 3), 0.5, np.float32)
    a_path = npy("good_a.npy", a)
    b_path = work / "good_b.pb"
    b_path.write_bytes(numpy_helper.from_array(b, "b").SerializeToString())
    outdir = work / "out_pb"
    expect_ok(run_kiln(kiln_bin, "run", sym_model, "-i", f"a={a_path}", "-i", f"b={b_path}", "--output-dir", outdir))
    t = onnx.TensorProto()
    t.ParseFromString((outdir / "o.pb").read_bytes())
    np.testing.assert_allclose(numpy_helper.to_array(t), a + b)
    outdir_npy = work / "out_npy"
    expect_ok(run_kiln(kiln_bin, "run", sym_model, "-i", f"a={a_path}", "-i", f"b={b_path}", "--output-dir", outdir_npy,
                       "--output-format", "npy"))
    np.testing.assert_allclose(np.load(outdir_npy / "o.npy"), a + b)


def test_names_with_colon_and_slash(kiln_bin, work, npy):
    """Input names like PyTorch/TF exports ('scope/in:0'); --shapes splits each entry at its last ':'."""
    name_a, name_b = "enc/input_ids:0", "model/mask:1"
    model = make_model([helper.make_node("Add", [name_a, name_b], ["out/sum:0"])],
                       [vi(name_a, ["batch", 4]), vi(name_b, ["batch", 4])], [vi("out/sum:0", ["batch", 4])])
    path = save(model, work / "odd_names.onnx")
    a = np.ones((3, 4), np.float32)
    a_path, b_path = npy("odd_a.npy", a), npy("odd_b.npy", 2 * a)
    outdir = work / "odd_out"
    out = expect_ok(run_kiln(kiln_bin, "run", path, "--shapes", f"{name_a}:3x4,{name_b}:3x4", "-i", f"{name_a}={a_path}",
                             "-i", f"{name_b}={b_path}", "--output-dir", outdir, "--output-format", "npy"))
    assert "out/sum:0: float32[3x4]" in out
    files = os.listdir(outdir)
    assert len(files) == 1 and "/" not in files[0]
    np.testing.assert_allclose(np.load(outdir / files[0]), 3 * a)
    # Shape outside the --shapes profile is rejected and names the input.
    c = npy("odd_c.npy", np.ones((2, 4), np.float32))
    expect_error(run_kiln(kiln_bin, "run", path, "--shapes", f"{name_a}:3x4,{name_b}:3x4", "-i", f"{name_a}={c}",
                          "-i", f"{name_b}={c}"), name_a)
    # A --shapes name that is a prefix of a real name (split at the FIRST ':' would give it) is unknown.
    expect_error(run_kiln(kiln_bin, "build", path, "-o", work / "odd.kiln", "--shapes", "enc/input_ids:0:3x4:5"),
                 "--shapes")


def test_build_with_shapes_and_inspect(kiln_bin, work, sym_model):
    engine = work / "sym_fixed.kiln"
    expect_ok(run_kiln(kiln_bin, "build", sym_model, "-o", engine, "--shapes", "a:2x3,b:2x3"))
    out = expect_ok(run_kiln(kiln_bin, "inspect", engine))
    assert "a" in out and "Add" in out


def test_bench_times_the_given_inputs(kiln_bin, work, sym_model, npy):
    a = npy("bench_a_4x3.npy", np.ones((4, 3), np.float32))
    out = expect_ok(run_kiln(kiln_bin, "bench", sym_model, "--input", f"a={a}", "-i", f"b={a}", "--duration", 0.05))
    assert "at batch 4)" in out, out  # random inputs would be batch 1
    expect_error(run_kiln(kiln_bin, "bench", sym_model, "--input", f"c={a}", "--duration", 0.05), "'c'", "no such input")
    expect_error(run_kiln(kiln_bin, "bench", sym_model, "--input", f"a={work / 'none.npy'}", "--duration", 0.05),
                 "'a'", "none.npy")
    expect_error(run_kiln(kiln_bin, "bench", sym_model, "--input", "a", "--duration", 0.05), "expected NAME=FILE")


def test_bench_back_to_back_needs_no_transfers(kiln_bin, work, relu_engine):
    path = write_bytes(work, "b2b.kiln", relu_engine)
    expect_error(run_kiln(kiln_bin, "bench", path, "--back-to-back", 4, "--duration", 0.05),
                 "--back-to-back 4", "--no-transfers")


def test_bench_back_to_back_counts_every_run(kiln_bin, work, relu_engine):
    """CPU engines run the N executions one after another; the JSON reports N runs per host wait."""
    out = work / "b2b.json"
    path = write_bytes(work, "b2b_ok.kiln", relu_engine)
    proc = run_kiln(kiln_bin, "bench", path, "--no-transfers", "--back-to-back", 5, "--duration", 0.05,
                    "--iterations", 10, "--json", out)
    assert proc.returncode == 0, proc.stderr
    import json
    j = json.loads(out.read_text())
    assert j["back_to_back"] == 5
    assert j["iterations"] >= 10 and j["iterations"] % 5 == 0
