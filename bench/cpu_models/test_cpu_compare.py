"""Tests of bench/cpu_compare.py: output comparison, geo-means, model selection, and a short run on bundled models.

Needs kiln, onnx and onnxruntime (not torch: the bundled models are written with onnx.helper).
"""
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import cpu_compare as cc  # noqa: E402
import report  # noqa: E402

SCRIPT = os.path.join(os.path.dirname(HERE), "cpu_compare.py")


def _ort(*arrays):
    return {"outputs": [f"out{i}" for i in range(len(arrays))], "arrays": list(arrays)}


def test_compare_within_and_beyond_tolerance():
    ref = np.array([1.0, -2.0, 4.0], np.float32)
    assert cc.compare({"out0": ref + 1e-5}, _ort(ref), (1e-4, 1e-3))[2]
    a, r, ok, why = cc.compare({"out0": ref + np.float32(0.1)}, _ort(ref), (1e-4, 1e-3))
    assert not ok and "out0" in why and abs(a - 0.1) < 1e-6 and abs(r - 0.025) < 1e-6


def test_compare_missing_shape_and_nan():
    ref = np.ones((2, 3), np.float32)
    assert "missing" in cc.compare({}, _ort(ref), (1e-4, 1e-3))[3]
    assert "shape" in cc.compare({"out0": np.ones((3, 2), np.float32)}, _ort(ref), (1e-4, 1e-3))[3]
    bad = ref.copy()
    bad[0, 0] = np.nan
    assert not cc.compare({"out0": bad}, _ort(ref), (1e-4, 1e-3))[2]


def test_output_names_are_sanitized_like_kiln_run():
    ref = np.zeros(2, np.float32)
    assert cc.compare({"logits_0_": ref}, {"outputs": ["logits:0/"], "arrays": [ref]}, (1e-4, 1e-3))[2]


def test_summary_geomean_and_worst():
    rows = [{"model": "a", "batch": 1, "threads": 1, "ratio": 2.0, "ok": True},
            {"model": "b", "batch": 8, "threads": 1, "ratio": 0.25, "ok": True},
            {"model": "c", "batch": 1, "threads": 1, "error": "kiln build: x"}]
    s = report.summarize(rows, [1])
    g = s["per_threads"]["1"]
    assert abs(g["geomean"] - 0.7071) < 1e-3 and g["n"] == 2 and g["below_0_5"] == ["b"]
    assert g["worst"].startswith("b b8") and s["errors"] == 1 and s["outputs_ok"] == 2


def test_select_models_by_name_and_category():
    assert cc.select_models("bundled") == list(cc.BUNDLED)
    assert "resnet50" in cc.select_models("cnn") and "bert_base_s128" not in cc.select_models("cnn")
    assert len(cc.select_models("all")) >= 24
    with pytest.raises(SystemExit):
        cc.select_models("no_such_model")


def test_make_inputs_kinds(tmp_path):
    files = cc.make_inputs([("a", ("B", 3), "float"), ("ids", ("B", 5), "ids:7"), ("m", ("B", 5), "ones")],
                           4, str(tmp_path))
    a, ids, m = (np.load(files[k]) for k in ("a", "ids", "m"))
    assert a.shape == (4, 3) and a.dtype == np.float32 and np.all(np.abs(a) <= 1)
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < 7 and np.all(m == 1)


def test_short_run_on_bundled_models(kiln_bin, tmp_path):
    out = tmp_path / "r.json"
    r = subprocess.run([sys.executable, SCRIPT, "--kiln", kiln_bin, "--models", "small_cnn,lstm_seq",
                        "--duration", "0.05", "--warmup", "0", "--threads", "1", "--batches", "1,tput",
                        "--model-dir", str(tmp_path / "models"), "--json", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    data = json.load(open(out))
    assert len(data["rows"]) == 4 and "geo-mean" in r.stdout
    for row in data["rows"]:
        assert row["ok"] and row["ratio"] > 0 and row["kiln_mb"] > 0 and row["ort_mb"] > 0, row


def test_a_model_kiln_cannot_build_is_a_row_not_a_crash(kiln_bin, tmp_path):
    g = helper.make_graph([helper.make_node("Foo", ["x"], ["y"], domain="custom")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])])
    path = str(tmp_path / "bad.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("custom", 1)]),
              path)
    sys.argv = ["cpu_compare.py", "--kiln", kiln_bin, "--duration", "0.05", "--threads", "1"]
    args = cc.parse_args()
    m = {"path": path, "tput": 2, "tol": (1e-4, 1e-3), "category": "x", "inputs": [("x", ("B", 4), "float")]}
    rows = cc.bench_model(args, "bad", m, str(tmp_path / "work"))
    assert len(rows) == 2 and all("kiln build" in r["error"] for r in rows)
    assert "Foo" in rows[0]["error"] and "ratio" not in rows[0]
