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


def _qdq_attention_model(path):
    """q, k, v [1, 2, 16, 8] -> attention with every Q/DQ pair ONNX Runtime's quantize_static writes (Q, K, V, the
    scores, the scaled scores, the probabilities and the output), uint8 with fixed parameters."""
    from onnx import TensorProto, helper, numpy_helper
    nodes, inits = [], []

    def fq(v, scale, zp):
        inits.extend([numpy_helper.from_array(np.array(scale, np.float32), v + "_s"),
                      numpy_helper.from_array(np.array(zp, np.uint8), v + "_z")])
        nodes.append(helper.make_node("QuantizeLinear", [v, v + "_s", v + "_z"], [v + "_q"]))
        nodes.append(helper.make_node("DequantizeLinear", [v + "_q", v + "_s", v + "_z"], [v + "_d"]))
        return v + "_d"

    q, k, v = fq("q", 0.02, 128), fq("k", 0.02, 128), fq("v", 0.02, 128)
    nodes.append(helper.make_node("Transpose", [k], ["kt"], perm=[0, 1, 3, 2]))
    nodes.append(helper.make_node("MatMul", [q, "kt"], ["s"]))
    inits.append(numpy_helper.from_array(np.array(0.35, np.float32), "c"))
    nodes.append(helper.make_node("Mul", [fq("s", 0.04, 128), "c"], ["ss"]))
    nodes.append(helper.make_node("Softmax", [fq("ss", 0.015, 128)], ["p"], axis=-1))
    nodes.append(helper.make_node("MatMul", [fq("p", 1 / 255, 0), v], ["o"]))
    nodes.append(helper.make_node("Identity", [fq("o", 0.01, 128)], ["y"]))
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 2, 16, 8]) for n in ("q", "k", "v")]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 16, 8])
    graph = helper.make_graph(nodes, "qdq_attention", ins, [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    with open(path, "wb") as f:
        f.write(model.SerializeToString())


def test_qdq_attention_float_scores_and_exact_qdq(tmp_path):
    """A Q/DQ attention block: exact_qdq=True runs it as written (ONNX Runtime's answer); the default runs the scores
    and probabilities in float32, which lands closer to the float block (docs/int8.md, fold_qdq_attention)."""
    path = str(tmp_path / "attn.onnx")
    _qdq_attention_model(path)
    rng = np.random.default_rng(3)
    feeds = {n: rng.uniform(-2, 2, (1, 2, 16, 8)).astype(np.float32) for n in ("q", "k", "v")}
    ort_y = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    exact = kiln.build(path, exact_qdq=True).create_context().run(feeds)["y"]
    fast = kiln.build(path).create_context().run(feeds)["y"]
    # A score one code apart (float summation order) moves a probability code and the output by a step or two.
    assert np.abs(exact - ort_y).max() <= 0.031
    # The float block on the same dequantized Q, K, V (numpy, float64).
    dq = {n: np.clip(np.round(feeds[n] / 0.02) + 128, 0, 255).astype(np.float64) - 128 for n in feeds}
    qf, kf, vf = (dq[n] * 0.02 for n in ("q", "k", "v"))
    s = qf @ kf.transpose(0, 1, 3, 2) * 0.35
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    ref = np.clip(np.round((p @ vf) / 0.01) + 128, 0, 255) - 128
    ref *= 0.01
    err_fast, err_exact = np.abs(fast - ref).max(), np.abs(exact - ref).max()
    assert err_fast <= 0.011, err_fast
    assert err_exact > err_fast, (err_exact, err_fast)
