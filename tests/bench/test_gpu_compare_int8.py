"""bench/gpu_compare.py's INT8 mode without a GPU: the plan names the calibration step, the script writes held-out
calibration samples in kiln's folder layout and one cache per model, the pass threshold and top-1 agreement."""
import argparse
import os
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "bench"))
import gpu_compare  # noqa: E402


def test_dry_run_plans_calibration():
    out = subprocess.run([sys.executable, os.path.join(REPO, "bench", "gpu_compare.py"), "--dry-run", "--precision",
                          "int8", "--models", "resnet50", "--batches", "1"], capture_output=True, text=True, check=True)
    assert "--precision int8" in out.stdout
    assert "--calib <workdir>/calib_resnet50" in out.stdout and "resnet50_calib.json" in out.stdout
    assert f"< {gpu_compare.INT8_REL_L2_PASS:g}" in out.stdout


def test_calibration_samples_and_cache(tmp_path):
    args = argparse.Namespace(precision="int8", kiln_build_args="", tmp=str(tmp_path), calib_samples=3, calib_batch=2)
    flags = gpu_compare.calibration_args(args, "bert")
    assert flags == ["--calib", str(tmp_path / "calib_bert"), "--calib-cache", str(tmp_path / "bert_calib.json")]
    samples = sorted(os.listdir(tmp_path / "calib_bert"))
    assert samples == ["sample_000", "sample_001", "sample_002"]
    ids = np.load(tmp_path / "calib_bert" / "sample_001" / "input_ids.npy")
    mask = np.load(tmp_path / "calib_bert" / "sample_001" / "attention_mask.npy")
    assert ids.shape == (2, gpu_compare.SEQ) and mask.shape == ids.shape
    # Held out: the samples are not the workloads' own inputs (seeded by batch size).
    assert not np.array_equal(ids, gpu_compare.make_inputs("bert", 2, seed=2)["input_ids"])
    # A user's own --calib (or cache) wins; other precisions calibrate nothing.
    assert gpu_compare.calibration_args(argparse.Namespace(**{**vars(args), "kiln_build_args": "--calib /d"}), "x") == []
    assert gpu_compare.calibration_args(argparse.Namespace(**{**vars(args), "precision": "fp16"}), "x") == []


def test_int8_threshold_and_top1():
    assert gpu_compare.pass_threshold(argparse.Namespace(precision="int8")) == gpu_compare.INT8_REL_L2_PASS
    assert gpu_compare.pass_threshold(argparse.Namespace(precision="fp16")) == gpu_compare.REL_L2_PASS
    ref = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]])
    got = np.array([[0.2, 0.7, 0.1], [0.1, 0.2, 0.7]])
    e = gpu_compare.rel_errors(got, ref)
    assert e["top1_agree"] == 0.5 and e["finite"]
    assert "top1_agree" not in gpu_compare.rel_errors(np.ones((2, 3, 4)), np.ones((2, 3, 4)))
