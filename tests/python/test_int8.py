"""INT8 through the Python API (docs/int8.md): calibration from in-memory samples or a sample folder, the
calibration cache, the exported Q/DQ model; the int8 engine stays close to the fp32 one and loads in the CLI."""
import subprocess

import numpy as np
import onnxruntime as ort

import kiln


def _samples(n, seed=0):
    rng = np.random.default_rng(seed)
    return [{"image": rng.standard_normal((2, 3, 32, 32)).astype(np.float32)} for _ in range(n)]


def _cosine(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_int8_from_samples_close_to_fp32(model_paths, tmp_path, kiln_cli):
    path = model_paths["small_cnn"]
    cache, qdq = tmp_path / "cache.json", tmp_path / "qdq.onnx"
    eng8 = kiln.build(path, precision="int8", calib=(s for s in _samples(8)), calib_cache=cache, export_qdq=qdq,
                      calib_method="percentile", calib_percentile=99.9)
    assert eng8.info["precision"] == "int8"
    assert "int8" in eng8.inspect()
    assert cache.exists() and qdq.exists()
    x = _samples(1, seed=9)[0]
    fp32 = kiln.build(path).create_context().run(x)
    int8 = eng8.create_context().run(x)
    assert _cosine(int8["logits"], fp32["logits"]) > 0.95
    # The exported Q/DQ model runs in ONNX Runtime.
    sess = ort.InferenceSession(str(qdq), providers=["CPUExecutionProvider"])
    assert _cosine(sess.run(["logits"], x)[0], fp32["logits"]) > 0.95
    # The cache alone rebuilds the same engine bytes; the CLI runs the Python-built int8 engine.
    again = kiln.build(path, precision="int8", calib_cache=cache)
    assert again.serialize() == kiln.build(path, precision="int8", calib_cache=cache).serialize()
    np.testing.assert_allclose(again.create_context().run(x)["logits"], int8["logits"], rtol=1e-5, atol=1e-5)
    eng8.save(tmp_path / "m8.kiln")
    out = subprocess.run([kiln_cli, "inspect", str(tmp_path / "m8.kiln")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "int8" in out.stdout


def test_int8_from_sample_folder(model_paths, tmp_path):
    for i, s in enumerate(_samples(4, seed=3)):
        (tmp_path / f"s{i}").mkdir()
        np.save(tmp_path / f"s{i}" / "image.npy", s["image"])
    eng = kiln.build(model_paths["small_cnn"], precision="int8", calib=tmp_path, calib_method="minmax")
    assert eng.info["precision"] == "int8"
    x = _samples(1, seed=5)[0]
    fp32 = kiln.build(model_paths["small_cnn"]).create_context().run(x)
    assert _cosine(eng.create_context().run(x)["logits"], fp32["logits"]) > 0.95


def test_int8_accuracy_guard(model_paths, tmp_path):
    """The guard through Python: a budget that holds gives its result line and per-layer precisions (the report
    agrees); an impossible one raises KilnError naming the budget."""
    path, report = model_paths["small_cnn"], tmp_path / "guard.json"
    eng = kiln.build(path, precision="int8", calib=_samples(10), accuracy_budget="logits=cosine:0.99",
                     accuracy_samples=3, accuracy_report=report)
    info = eng.info
    assert "cosine(logits)" in info["accuracy_guard"] and ">= 0.99" in info["accuracy_guard"]
    assert info["layer_precision"] and set(info["layer_precision"].values()) <= {"int8", "fp32"}
    assert "int8" in info["layer_precision"].values()
    import json
    layers = {l["name"]: l["precision"] for l in json.loads(report.read_text())["layers"]}
    assert layers == info["layer_precision"]
    x = _samples(1, seed=11)[0]
    fp32 = kiln.build(path).create_context().run(x)
    assert _cosine(eng.create_context().run(x)["logits"], fp32["logits"]) > 0.95
    try:
        kiln.build(path, precision="int8", calib=_samples(10), accuracy_budget="rel_l2:0")
    except kiln.KilnError as e:
        assert "rel_l2" in str(e)
    else:
        raise AssertionError("an impossible budget built")


def test_fp8_from_samples_close_to_fp32(model_paths):
    """precision="fp8" (docs/int8.md, "FP8"): the transformer block's GEMMs in float8 e4m3 with calibrated scales;
    on the CPU the engine runs the Q/DQ model, close to fp32 but not equal to it."""
    path = model_paths["transformer_block"]
    rng = np.random.default_rng(4)

    def sample():
        return {"tokens": rng.standard_normal((2, 8, 64)).astype(np.float32),
                "attention_mask": np.zeros((2, 1, 1, 8), np.float32)}

    eng = kiln.build(path, precision="fp8", calib=[sample() for _ in range(6)])
    assert eng.info["precision"] == "fp8"
    x = sample()
    fp32 = kiln.build(path).create_context().run(x)["out"]
    fp8 = eng.create_context().run(x)["out"]
    assert 0.99 < _cosine(fp8, fp32) < 1 - 1e-9
