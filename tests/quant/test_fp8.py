"""--precision fp8 (docs/int8.md, "FP8"): calibrated float8 e4m3 Q/DQ around MatMul/Gemm. On the CPU the engine runs the
Q/DQ graph (the reference's float8 conversions, float32 GEMMs); its outputs are checked against ONNX Runtime FP32 on
held-out samples. On CUDA the same Q/DQ fold into FP8 GEMMs (FusedMatMul over float8, float16 layers between): checked
through the IR dumps, which a build prints before it needs a GPU. Errors name the missing flag or the unsupported
combination."""
import os
import subprocess

import numpy as np
import onnxruntime as ort
import pytest

from test_int8_calibration import MAKERS, cosine, kiln_build, run_kiln, write_samples

# FP8 e4m3 keeps 3 mantissa bits: per-tensor scales cost the transformer block about 2e-3 of cosine (measured 0.9987
# to 0.9993); a wrong scale or fold costs order 1e-1.
FP8_COSINE = 0.99


@pytest.fixture(scope="module")
def fp8(tmp_path_factory, model_paths, kiln):
    work = tmp_path_factory.mktemp("fp8")
    path = model_paths["transformer_block"]
    write_samples(str(work / "calib"), MAKERS["transformer_block"], 16, seed=1)
    held = write_samples(str(work / "held"), MAKERS["transformer_block"], 4, seed=2)
    r = kiln_build(kiln, path, "--precision", "fp8", "--calib", str(work / "calib"), "--calib-cache",
                   str(work / "cache.json"), "-o", str(work / "fp8.kiln"))
    assert r.returncode == 0, r.stderr
    assert "precision fp8" in r.stdout
    return {"work": work, "path": path, "held": held}


def test_fp8_engine_matches_fp32(fp8, kiln):
    ref = ort.InferenceSession(fp8["path"], providers=["CPUExecutionProvider"])
    worst = 1.0
    for i, s in enumerate(fp8["held"]):
        want = ref.run(None, s)[0]
        out = fp8["work"] / f"run_{i}"
        out.mkdir()
        run_kiln(kiln, str(fp8["work"] / "fp8.kiln"), s, str(out))
        got = np.load(str(out / "out.npy"))
        assert np.isfinite(got).all()
        worst = min(worst, cosine(want, got))
        assert not np.allclose(got, want, rtol=1e-5, atol=1e-6), "fp8 engine gave float32 results: nothing quantized"
    print(f"transformer_block: FP8 vs FP32 worst cosine (held-out) {worst:.5f}")
    assert worst >= FP8_COSINE


def test_fp8_reuses_the_calibration_cache(fp8, kiln):
    """The cache holds ranges, not int8 parameters: an fp8 build reads it (no --calib), and an int8 build too."""
    for precision in ("fp8", "int8"):
        r = kiln_build(kiln, fp8["path"], "--precision", precision, "--calib-cache", str(fp8["work"] / "cache.json"),
                       "-o", str(fp8["work"] / f"cached_{precision}.kiln"))
        assert r.returncode == 0, r.stderr
        assert "calibrate: pass" not in r.stderr


def cuda_dump(kiln, fp8, stage):
    r = kiln_build(kiln, fp8["path"], "--device", "cuda", "--precision", "fp8", "--calib-cache",
                   str(fp8["work"] / "cache.json"), "--dump-ir", "after:" + stage, "-o", str(fp8["work"] / "c.kiln"))
    if "=== IR after" not in r.stderr:
        pytest.skip("this kiln has no CUDA backend: " + r.stderr.strip().splitlines()[-1])
    return r.stderr[r.stderr.index("=== IR after"):]


def test_cuda_fp8_builds_fp8_gemms(fp8, kiln):
    """Every weight MatMul becomes a FusedMatMul over float8 (the FP8 GEMM; q, k and v as one) with float16 output; the FFN's first
    GEMM (-> GELU -> Q) writes float8 itself, so the second reads it without a QuantizeLinear between."""
    dump = cuda_dump(kiln, fp8, "all")
    final = dump[dump.rindex("=== IR after"):]
    lines = final.splitlines()
    gemms = [l for l in lines if "= FusedMatMul(" in l]
    fp8_gemms = [l for l in gemms if "_quantized" in l.split("FusedMatMul(")[1].split(",")[0]]
    # The q, k and v projections share alpha and fuse into one FP8 GEMM (fuse_qkv_projection); then out, ffn1, ffn2.
    # Attention's own two products stay float.
    assert len(fp8_gemms) == 4, "\n".join(gemms)
    assert len([l for l in fp8_gemms if "qkv" in l.split("=")[0]]) == 1, "\n".join(fp8_gemms)
    assert not [l for l in lines if "= MatMul(" in l and "_quantized" in l]
    assert "=== IR after fold_qdq_fp8_output" in dump
    writes_fp8 = [l for l in fp8_gemms if l.split("=")[0].split(":")[1].strip().startswith("float8e4m3fn")]
    assert len(writes_fp8) == 1, "\n".join(fp8_gemms)
    assert all("float16" in l.split("=")[0] for l in fp8_gemms if l not in writes_fp8), fp8_gemms


def test_fp8_errors_name_what_is_wrong(fp8, kiln, tmp_path):
    r = kiln_build(kiln, fp8["path"], "--precision", "fp8", "-o", str(tmp_path / "x.kiln"))
    assert r.returncode != 0 and "--precision fp8 needs calibration" in r.stderr and "--calib" in r.stderr
    r = kiln_build(kiln, fp8["path"], "--precision", "fp8", "--calib-cache", str(fp8["work"] / "cache.json"),
                   "--export-qdq", str(tmp_path / "q.onnx"), "-o", str(tmp_path / "x.kiln"))
    assert r.returncode != 0 and "--export-qdq" in r.stderr and "fp8" in r.stderr
    assert not os.path.exists(tmp_path / "q.onnx")
    r = kiln_build(kiln, fp8["path"], "--precision", "fp8", "--calib", str(fp8["work"] / "calib"),
                   "--accuracy-budget", "cosine:0.99", "-o", str(tmp_path / "x.kiln"))
    assert r.returncode != 0 and "--accuracy-budget" in r.stderr and "int8" in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 3, r.stderr  # one clear line, not a dump
