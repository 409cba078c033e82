"""The INT8 accuracy guard (--accuracy-budget, docs/int8.md): a CNN whose second convolution is made fragile for
int8 (one huge weight per output channel, on an input channel that is always zero, so FP32 does not see it but the
per-channel int8 scale wipes out every other weight) must end with exactly that layer in FP32 and meet the budget;
budgets that cannot hold fail with one line; bad budgets are refused; the report and `kiln inspect` show the result."""
import json
import os
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

LAYERS = ["conv1", "conv2", "conv3", "fc1", "fc2"]
FRAGILE = "conv2"
SAMPLES = 10  # default split: samples 4 and 9 held back, 8 calibrate


def make_model(fragile=True):
    """x [1,3,12,12] -> conv1/relu -> conv2/relu -> conv3/relu -> global pool -> fc1/relu -> fc2 -> logits [1,10]."""
    rng = np.random.default_rng(7)
    inits, nodes = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(arr.astype(np.float32), name))
        return name

    def conv(name, x, cin, cout, w_edit=None, bias=None):
        w = rng.normal(0, 0.3, (cout, cin, 3, 3))
        if w_edit:
            w_edit(w)
        b = bias if bias is not None else rng.normal(0, 0.1, cout)
        nodes.append(helper.make_node("Conv", [x, const(name + "_w", w), const(name + "_b", b)], [name + "_y"],
                                      name=name, pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [name + "_y"], [name + "_r"], name=name + "_relu"))
        return name + "_r"

    b1 = rng.normal(0, 0.1, 8)
    b1[0] = -100.0  # conv1's channel 0 is always zero after its Relu

    def outliers(w):
        w[:, 0, 1, 1] = 200.0  # read only from that dead channel: invisible in FP32, ruins the int8 scale

    h = conv("conv1", "x", 3, 8, bias=b1)
    h = conv("conv2", h, 8, 8, w_edit=outliers if fragile else None)
    h = conv("conv3", h, 8, 8)
    nodes.append(helper.make_node("GlobalAveragePool", [h], ["pooled"], name="pool"))
    nodes.append(helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten"))
    nodes.append(helper.make_node("Gemm", ["flat", const("fc1_w", rng.normal(0, 0.5, (8, 16))),
                                           const("fc1_b", rng.normal(0, 0.1, 16))], ["fc1_y"], name="fc1"))
    nodes.append(helper.make_node("Relu", ["fc1_y"], ["fc1_r"], name="fc1_relu"))
    nodes.append(helper.make_node("Gemm", ["fc1_r", const("fc2_w", rng.normal(0, 0.5, (16, 10))),
                                           const("fc2_b", rng.normal(0, 0.1, 10))], ["logits"], name="fc2"))
    graph = helper.make_graph(nodes, "guard_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 12, 12])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def write_samples(folder, count, seed=3):
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(count):
        x = rng.normal(0, 1, (1, 3, 12, 12)).astype(np.float32)
        os.makedirs(os.path.join(folder, f"s{i:02d}"))
        np.save(os.path.join(folder, f"s{i:02d}", "x.npy"), x)
        samples.append(x)
    return samples


def cosine(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def kiln_cmd(kiln, *args):
    return subprocess.run([kiln, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("guard")
    onnx.save(make_model(), str(d / "model.onnx"))
    samples = write_samples(str(d / "calib"), SAMPLES)
    return {"dir": d, "model": str(d / "model.onnx"), "calib": str(d / "calib"), "samples": samples}


@pytest.fixture(scope="module")
def guarded(work, kiln):
    """One guarded build (cosine 0.999), with the report; shared by the tests that read its results."""
    d = work["dir"]
    r = kiln_cmd(kiln, "build", work["model"], "--precision", "int8", "--calib", work["calib"], "--accuracy-budget",
                 "cosine:0.999", "--accuracy-report", str(d / "report.json"), "--export-qdq", str(d / "guarded.onnx"),
                 "-o", str(d / "guarded.kiln"))
    print(r.stderr)
    assert r.returncode == 0, r.stderr
    with open(d / "report.json") as f:
        return {"run": r, "report": json.load(f), "engine": str(d / "guarded.kiln"), "qdq": str(d / "guarded.onnx")}


def engine_cosine(kiln, engine, x, out_dir, fp32_logits):
    os.makedirs(out_dir)
    np.save(os.path.join(out_dir, "x.npy"), x)
    r = kiln_cmd(kiln, "run", engine, "--input", "x=" + os.path.join(out_dir, "x.npy"), "--output-dir", out_dir,
                 "--output-format", "npy")
    assert r.returncode == 0, r.stderr
    return cosine(fp32_logits, np.load(os.path.join(out_dir, "logits.npy")))


def test_the_fragile_layer_and_only_it_goes_back_to_fp32(work, guarded, kiln):
    rep = guarded["report"]
    precision = {l["name"]: l["precision"] for l in rep["layers"]}
    assert precision == {n: ("fp32" if n == FRAGILE else "int8") for n in LAYERS}
    assert rep["met"] is True and rep["int8_layers"] == 4 and rep["layers_total"] == 5
    ranks = {l["name"]: l["rank"] for l in rep["layers"]}
    assert ranks[FRAGILE] == 1
    # Every trial prints one line, then the final line; the build's stdout carries the result.
    lines = [l for l in guarded["run"].stderr.splitlines() if l.startswith("accuracy guard: trial")]
    assert len(lines) == len(rep["trials"]) == 7  # all int8, 5 sensitivity runs, conv2 in fp32
    assert "4/5 layers int8" in guarded["run"].stdout and "(fp32: conv2)" in guarded["run"].stderr


def test_the_metric_really_improves(work, guarded, kiln, tmp_path):
    rep = guarded["report"]
    before = rep["before"]["outputs"]["logits"]["cosine"]
    after = rep["after"]["outputs"]["logits"]["cosine"]
    assert before < 0.99 and after >= 0.999, (before, after)
    assert rep["before"]["met"] is False and rep["after"]["met"] is True
    # Measured independently: the saved engine vs ONNX Runtime FP32 on the held-back samples (4 and 9), and the
    # plain all-int8 engine on the same samples, which the guard had to fix.
    fp32 = ort.InferenceSession(work["model"], providers=["CPUExecutionProvider"])
    plain = str(tmp_path / "plain.kiln")
    r = kiln_cmd(kiln, "build", work["model"], "--precision", "int8", "--calib", work["calib"], "-o", plain)
    assert r.returncode == 0, r.stderr
    for i in (4, 9):
        x = work["samples"][i]
        ref = fp32.run(None, {"x": x})[0]
        guarded_cos = engine_cosine(kiln, guarded["engine"], x, str(tmp_path / f"g{i}"), ref)
        plain_cos = engine_cosine(kiln, plain, x, str(tmp_path / f"p{i}"), ref)
        print(f"held-back sample {i}: cosine vs FP32 (ORT): guarded {guarded_cos:.6f}, all int8 {plain_cos:.6f}")
        assert guarded_cos >= 0.999 and plain_cos < 0.99
    assert abs(min(engine_cosine(kiln, guarded["engine"], work["samples"][i], str(tmp_path / f"h{i}"),
                                 fp32.run(None, {"x": work["samples"][i]})[0]) for i in (4, 9)) - after) < 1e-4


def test_report_content(guarded, work):
    rep = guarded["report"]
    assert rep["format"] == "kiln-accuracy-guard" and rep["version"] == 1
    assert rep["budget"] == "cosine:0.999"
    assert rep["constraints"] == [{"output": "logits", "metric": "cosine", "value": 0.999}]
    assert rep["samples"]["calibration"] == 8 and rep["samples"]["held_back"] == 2
    assert [os.path.basename(p) for p in rep["samples"]["held_back_folders"]] == ["s04", "s09"]
    sens = {l["name"]: l["sensitivity"] for l in rep["layers"]}
    assert sens[FRAGILE] > 1 and all(sens[n] < sens[FRAGILE] for n in LAYERS if n != FRAGILE)
    assert all(l["only_this_layer_int8"]["logits"]["top1"] is not None for l in rep["layers"])
    assert all(rep["trials"][l["trial"]]["layer"] == l["name"] for l in rep["layers"])
    kinds = [t["kind"] for t in rep["trials"]]
    assert kinds == ["all_int8"] + ["sensitivity"] * 5 + ["fallback"]
    assert [t.get("layer") for t in rep["trials"][1:6]] == LAYERS
    assert rep["after"]["fp32_layers"] == [FRAGILE] and rep["before"]["fp32_layers"] == []
    assert rep["after"]["budget"][0]["measured"] == rep["after"]["outputs"]["logits"]["cosine"]
    t = rep["timings_s"]
    assert t["total"] >= t["calibration"] + t["fp32_reference"] + t["sensitivity"] + t["search"] - 1e-6
    assert all(tr["build_s"] > 0 and tr["run_s"] > 0 for tr in rep["trials"])


def test_inspect_shows_the_guard(guarded, kiln):
    r = kiln_cmd(kiln, "inspect", guarded["engine"])
    assert r.returncode == 0, r.stderr
    assert "Accuracy guard: cosine(logits) " in r.stdout and ">= 0.999 on 2 held-back samples, 4/5 layers int8" in r.stdout
    assert "fp32 layers (1): conv2\n" in r.stdout
    assert "int8 layers (4): conv1 conv3 fc1 fc2\n" in r.stdout


def test_exported_qdq_model_keeps_the_fp32_layer_float(guarded):
    m = onnx.load(guarded["qdq"])
    onnx.checker.check_model(m)
    producer = {o: n for n in m.graph.node for o in n.output}
    inits = {i.name for i in m.graph.initializer}
    for n in m.graph.node:
        if n.name in LAYERS:
            w = n.input[1]
            quantized = w in producer and producer[w].op_type == "DequantizeLinear"
            assert quantized == (n.name != FRAGILE), n.name
            if n.name == FRAGILE:
                assert w in inits


def test_budget_met_by_all_int8_needs_no_search(work, kiln, tmp_path):
    r = kiln_cmd(kiln, "build", work["model"], "--precision", "int8", "--calib", work["calib"], "--accuracy-budget",
                 "rel_l2:5", "--accuracy-samples", "3", "--accuracy-report", str(tmp_path / "r.json"), "-o",
                 str(tmp_path / "e.kiln"))
    assert r.returncode == 0, r.stderr
    rep = json.load(open(tmp_path / "r.json"))
    assert len(rep["trials"]) == 1 and rep["int8_layers"] == 5 and rep["samples"]["held_back"] == 3
    assert all(l["sensitivity"] is None for l in rep["layers"])


@pytest.mark.parametrize("budget", ["rel_l2:0", "logits=cosine:1"])
def test_a_budget_that_cannot_hold_fails_with_one_line(work, kiln, tmp_path, budget):
    out = tmp_path / "e.kiln"
    r = kiln_cmd(kiln, "build", work["model"], "--precision", "int8", "--calib", work["calib"], "--accuracy-budget",
                 budget, "--accuracy-report", str(tmp_path / "r.json"), "-o", str(out))
    assert r.returncode == 1 and not out.exists()
    errors = [l for l in r.stderr.splitlines() if "error" in l]
    assert len(errors) == 1, r.stderr
    err = errors[0]
    assert err.startswith("kiln build: error: accuracy budget not met (")
    assert "the closest was" in err and "5 one-layer sensitivity runs" in err and "1, 2, 4 most sensitive" in err
    rep = json.load(open(tmp_path / "r.json"))  # written for the failed build too
    assert rep["met"] is False and rep["after"] is None and rep["best"]["int8_layers"] >= 1


@pytest.mark.parametrize("budget,message", [
    ("cosin:0.9", "bad term 'cosin:0.9': unknown metric 'cosin' (expected top1, cosine or rel_l2)"),
    ("cosine", "bad term 'cosine': expected [OUTPUT=]METRIC:VALUE"),
    ("cosine:abc", "bad term 'cosine:abc': 'abc' is not a number"),
    ("cosine:1.5", "bad term 'cosine:1.5': cosine lies in [-1, 1]"),
    ("top1:-0.1", "bad term 'top1:-0.1': top1 is a fraction in [0, 1]"),
    ("rel_l2:-1", "bad term 'rel_l2:-1': rel_l2 is an upper bound >= 0"),
    ("cosine:0.9,cosine:0.99", "bad term 'cosine:0.99': cosine is given twice for every output"),
    ("=cosine:0.9", "bad term '=cosine:0.9': empty output name"),
])
def test_budget_parse_errors(work, kiln, tmp_path, budget, message):
    r = kiln_cmd(kiln, "build", work["model"], "--precision", "int8", "--calib", work["calib"], "--accuracy-budget",
                 budget, "-o", str(tmp_path / "e.kiln"))
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("kiln build: error: --accuracy-budget: " + message), r.stderr


@pytest.mark.parametrize("args,message", [
    (["--accuracy-budget", "nope=cosine:0.9"], "the model has no output 'nope' (its outputs: logits)"),
    (["--accuracy-budget", "cosine:0.9", "--accuracy-samples", "10"],
     "--accuracy-samples 10 leaves no sample to calibrate on"),
    (["--accuracy-report", "r.json"], "--accuracy-report needs --accuracy-budget"),
])
def test_option_errors(work, kiln, tmp_path, args, message):
    r = kiln_cmd(kiln, "build", work["model"], "--precision", "int8", "--calib", work["calib"], *args, "-o",
                 str(tmp_path / "e.kiln"))
    assert r.returncode == 1 and message in r.stderr, r.stderr


def test_guard_needs_int8_calibration_samples_and_two_of_them(work, kiln, tmp_path):
    base = [kiln, "build", work["model"], "--accuracy-budget", "cosine:0.99", "-o", str(tmp_path / "e.kiln")]
    r = subprocess.run(base + ["--precision", "fp16"], capture_output=True, text=True)
    assert r.returncode == 1 and "--accuracy-budget applies to --precision int8" in r.stderr, r.stderr
    r = subprocess.run(base + ["--precision", "int8"], capture_output=True, text=True)
    assert r.returncode == 1 and "--accuracy-budget needs --calib DIR" in r.stderr, r.stderr
    one = tmp_path / "one"
    write_samples(str(one), 1)
    r = subprocess.run(base + ["--precision", "int8", "--calib", str(one)], capture_output=True, text=True)
    assert r.returncode == 1 and "has 1 sample: the accuracy guard needs at least 2" in r.stderr, r.stderr


def test_per_output_top1_and_calibrate_command(work, kiln, tmp_path):
    """kiln calibrate takes the guard too: the cache excludes the held-back samples, the Q/DQ model keeps conv2
    float; a per-output top1 term beside a cosine term for every output."""
    cache, qdq = tmp_path / "c.json", tmp_path / "q.onnx"
    r = kiln_cmd(kiln, "calibrate", work["model"], "--calib", work["calib"], "-o", str(cache), "--export-qdq", str(qdq),
                 "--accuracy-budget", "logits=top1:1,cosine:0.999", "--accuracy-report", str(tmp_path / "r.json"))
    assert r.returncode == 0, r.stderr
    assert json.load(open(cache))["samples"] == 8
    rep = json.load(open(tmp_path / "r.json"))
    assert [(c["metric"], c["value"]) for c in rep["constraints"]] == [("top1", 1.0), ("cosine", 0.999)]
    assert rep["after"]["outputs"]["logits"]["top1"] == 1.0
    assert "Accuracy guard: top1(logits) 1.0000 >= 1, cosine(logits) " in r.stdout
    float_weights = [n.name for n in onnx.load(str(qdq)).graph.node
                     if n.name in LAYERS and not n.input[1].endswith("_dequantized")]
    assert float_weights == [FRAGILE]
