"""Bundled models (models/make_models.py) through `kiln run` vs ONNX Runtime (CPUExecutionProvider).

Every model runs at two input shapes (batch 1 and batch 3, different sequence lengths where there is one) three
ways, on identical random inputs: from the .onnx file directly ("onnx"), from one engine per model built with
`kiln build` with its dynamic dims left dynamic ("engine"), and from an engine built for exactly the case's shapes
with `--shapes` ("engine_fixed"). Float outputs must agree to rtol=1e-4, atol=1e-5; integer and bool outputs exactly.
Also checks `kiln bench --json` and `kiln inspect` on an engine.
"""
import json
import os
import re
import subprocess

import numpy as np
import onnxruntime as ort
import pytest

RTOL, ATOL = 1e-4, 1e-5
TIMEOUT = 120


def _normal(rng, *shape, scale=1.0, shift=0.0):
    return (rng.standard_normal(shape) * scale + shift).astype(np.float32)


def _mask(rng, batch, seq):
    m = np.where(rng.random((batch, 1, 1, seq)) < 0.3, -10000.0, 0.0).astype(np.float32)
    m[..., 0] = 0.0  # every row keeps at least one position
    return m


# model -> list of (case id, feeds builder). Two shapes each: batch 1 and batch 3.
CASES = {
    "small_cnn": [
        ("b1", lambda r: {"image": _normal(r, 1, 3, 32, 32)}),
        ("b3", lambda r: {"image": _normal(r, 3, 3, 32, 32)}),
    ],
    "transformer_block": [
        ("b1_s7", lambda r: {"tokens": _normal(r, 1, 7, 64), "attention_mask": _mask(r, 1, 7)}),
        ("b3_s16", lambda r: {"tokens": _normal(r, 3, 16, 64), "attention_mask": _mask(r, 3, 16)}),
    ],
    "lstm_seq": [
        ("b1_s5", lambda r: {"x": _normal(r, 1, 5, 16)}),
        ("b3_s12", lambda r: {"x": _normal(r, 3, 12, 16)}),
    ],
    "control_flow": [  # the shift steers If: sum > 0 takes then_branch at b1, else_branch at b3
        ("b1_then", lambda r: {"x": _normal(r, 1, 8, shift=0.75)}),
        ("b3_else", lambda r: {"x": _normal(r, 3, 8, shift=-0.75)}),
    ],
    "shape_ops": [
        ("b1_s4", lambda r: {"x": _normal(r, 1, 4, 16), "ids": r.integers(0, 50, (1, 4), dtype=np.int64)}),
        ("b3_s9", lambda r: {"x": _normal(r, 3, 9, 16), "ids": r.integers(0, 50, (3, 9), dtype=np.int64)}),
    ],
    "decoder": [
        ("b1", lambda r: {"latent": _normal(r, 1, 8, 4, 4)}),
        ("b3", lambda r: {"latent": _normal(r, 3, 8, 4, 4)}),
    ],
    "postprocess": [
        ("b1_n5", lambda r: {"scores": _normal(r, 1, 5, 10, scale=2.0)}),
        ("b3_n20", lambda r: {"scores": _normal(r, 3, 20, 10, scale=2.0)}),
    ],
    "quant_matmul": [
        ("b1", lambda r: {"x": _normal(r, 1, 32, scale=3.0)}),
        ("b3", lambda r: {"x": _normal(r, 3, 32, scale=3.0)}),  # scale 3 also exercises uint8 saturation
    ],
}

PARAMS = [pytest.param(model, idx, via, id=f"{model}-{case}-{via}")
          for model, cases in CASES.items() for idx, (case, _) in enumerate(cases) for via in ("onnx", "engine", "engine_fixed")]


DEVICE = ["--device", "cpu"]


@pytest.fixture(autouse=True, scope="session")
def _device(kiln_device):
    DEVICE[1] = kiln_device


def _kiln(kiln, *args):
    if args and args[0] in ("build", "run"):
        args = (*args, *DEVICE)
    p = subprocess.run([kiln, *args], capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, f"kiln {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p


def _file_name(output_name):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", output_name)


@pytest.fixture(scope="session")
def engines(kiln, model_paths, tmp_path_factory):
    """Builds each model's engine once, on first use."""
    out_dir = tmp_path_factory.mktemp("engines")
    built = {}

    def get(model):
        if model not in built:
            path = str(out_dir / f"{model}.kiln")
            _kiln(kiln, "build", model_paths[model], "-o", path)
            built[model] = path
        return built[model]
    return get


@pytest.fixture(scope="session")
def cases(model_paths, tmp_path_factory):
    """(model, case index) -> (kiln --input args, ORT outputs [(name, array)], --shapes string, feeds), computed once."""
    in_dir = tmp_path_factory.mktemp("inputs")
    memo = {}

    def get(model, idx):
        key = (model, idx)
        if key not in memo:
            case, make = CASES[model][idx]
            seed = 1000 * (list(CASES).index(model) + 1) + idx
            feeds = make(np.random.default_rng(seed))
            sess = ort.InferenceSession(model_paths[model], providers=["CPUExecutionProvider"])
            assert sorted(i.name for i in sess.get_inputs()) == sorted(feeds)
            ref = list(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
            args = []
            for name, arr in feeds.items():
                p = in_dir / f"{model}_{case}_{_file_name(name)}.npy"
                np.save(p, arr)
                args += ["--input", f"{name}={p}"]
            shapes = ",".join(f"{n}:{'x'.join(map(str, a.shape))}" for n, a in feeds.items())
            memo[key] = (args, ref, shapes, feeds)
        return memo[key]
    return get


@pytest.mark.parametrize("model,idx,via", PARAMS)
def test_matches_onnxruntime(kiln, model_paths, engines, cases, model, idx, via, tmp_path):
    args, ref, shapes, _ = cases(model, idx)
    if via == "onnx":
        target = model_paths[model]
    elif via == "engine":
        target = engines(model)
    else:
        target = str(tmp_path / "fixed.kiln")
        _kiln(kiln, "build", model_paths[model], "-o", target, "--shapes", shapes)
    out_dir = tmp_path / "out"
    _kiln(kiln, "run", target, *args, "--output-dir", str(out_dir), "--output-format", "npy")
    written = sorted(os.listdir(out_dir))
    assert written == sorted(_file_name(n) + ".npy" for n, _ in ref)
    for name, want in ref:
        got = np.load(out_dir / (_file_name(name) + ".npy"))
        assert got.dtype == want.dtype, f"{name}: dtype {got.dtype}, expected {want.dtype}"
        assert got.shape == want.shape, f"{name}: shape {got.shape}, expected {want.shape}"
        if np.issubdtype(want.dtype, np.floating):
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=f"output {name}")
        else:
            np.testing.assert_array_equal(got, want, err_msg=f"output {name}")


def test_control_flow_inputs_take_both_branches(cases):
    """The If in control_flow branches on sign(sum(x)); the two cases must exercise then and else."""
    signs = [float(cases("control_flow", i)[3]["x"].sum()) > 0 for i in range(2)]
    assert signs == [True, False]


def test_bench_json(kiln, engines, tmp_path):
    js = tmp_path / "bench.json"
    _kiln(kiln, "bench", engines("small_cnn"), "--batch", "2", "--duration", "0.2", "--warmup", "0.05",
          "--json", str(js))
    summary = json.loads(js.read_text())
    assert summary["throughput_qps"] > 0
    lat = summary["latency_ms"]
    for key in ("median", "p90", "p99"):
        assert key in lat, f"latency_ms lacks {key}: {lat}"
        assert lat[key] > 0
    assert lat["median"] <= lat["p90"] <= lat["p99"]


def test_inspect_engine(kiln, engines):
    out = _kiln(kiln, "inspect", engines("transformer_block")).stdout
    for name in ("tokens", "attention_mask", "out"):
        assert name in out, f"inspect output does not mention {name}:\n{out}"
