"""Attention as real exporters write it (tests/passes/data/attention_forms, made by make_attention_forms.py:
nn.MultiheadAttention, F.scaled_dot_product_attention, hand-written eager attention, transformers BERT / GPT-2 /
Llama (grouped-query heads) / T5 / Whisper / ViT in eager and sdpa, torchvision's ViT; legacy and dynamo
exporters) through `kiln build --device cpu`:
  - the optimizer fuses exactly the expected number of Attention nodes, no Softmax is left (none fused for the
    negative forms), and causal masks / grouped kv heads come out as is_causal / un-repeated K and V;
  - the engine's outputs match ONNX Runtime and the un-fused reference backend (--backend reference -O1) on the
    same random inputs (float32: rtol 1e-4, atol 1e-5; the float16 form: 1e-2).
Forms exported with dynamic axes run at other sizes than their export example.
"""
import json
import os
import re
import subprocess

import numpy as np
import onnxruntime as ort
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "attention_forms")
MANIFEST = json.load(open(os.path.join(DATA, "manifest.json")))
FORMS = sorted(k for k in MANIFEST if not k.startswith("_"))
TIMEOUT = 120


def _kiln(kiln, *args):
    p = subprocess.run([kiln, *args], capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 0, f"kiln {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p


def _feeds(form, rng):
    """Random inputs from the manifest's specs; dynamic dims get other sizes than the export example."""
    entry = MANIFEST[form]
    dynamic = set(entry.get("dynamic_inputs", []))
    out = {}
    for spec in entry["inputs"]:
        shape = list(spec["shape"])
        if spec["name"] in dynamic:
            shape[0] += 1  # batch
            if form.startswith("hf_bert_dynamic_seq"):
                shape[1] -= 2  # sequence
        kind = spec["kind"]
        if kind == "float":
            a = rng.standard_normal(shape).astype(np.float32)
        elif kind == "float_mask":  # an additive bias with a few -inf (never in the first key)
            a = rng.standard_normal(shape).astype(np.float32)
            a[rng.random(shape) < 0.2] = -np.inf
            a[..., 0] = 0.0
        elif kind in ("bool_keep", "bool_drop"):  # True = attend / True = masked; the first key always attends
            keep = rng.random(shape) > 0.3
            keep[..., 0] = True
            a = keep if kind == "bool_keep" else ~keep
        elif kind.startswith("ids:"):
            a = rng.integers(0, int(kind[4:]), shape, dtype=np.int64)
        elif kind == "pad_mask":  # rows: no padding, right padding, and one with every position padded
            a = np.ones(shape, np.int64)
            a[1, shape[1] - 2:] = 0
            if shape[0] > 2:
                a[2, :] = 0
        else:
            raise ValueError(kind)
        out[spec["name"]] = a
    return out


def _run_kiln(kiln, engine, feeds, folder):
    args = ["run", engine, "--output-dir", folder, "--output-format", "npy", "--allow-nonfinite"]
    for name, a in feeds.items():
        path = os.path.join(folder, f"in_{name}.npy")
        np.save(path, a)
        args += ["--input", f"{name}={path}"]
    _kiln(kiln, *args)
    return np.load(os.path.join(folder, "y.npy"))


def _attention_lines(dump):
    """The fused Attention nodes in an IR dump, and every value's dims (graph inputs and node outputs)."""
    dims = {}
    for name, body in re.findall(r"([\w.:/-]+): \w+\[([^\]]*)\]", dump):
        dims[name] = body.split(",")
    lines = [ln for ln in dump.splitlines() if "= Attention(" in ln]
    return lines, dims


@pytest.mark.parametrize("form", FORMS)
def test_attention_form(kiln, form, tmp_path):
    entry = MANIFEST[form]
    model = os.path.join(DATA, entry["file"])
    expected = entry["expected"]
    fp16 = "fp16" in form
    engine = str(tmp_path / "cpu.kiln")
    built = _kiln(kiln, "build", model, "-o", engine, "--device", "cpu", "--dump-ir", "after:fuse_attention")
    nodes = _kiln(kiln, "inspect", engine).stdout
    attention = len(re.findall(r"^\s+\d+\s+\S+\s+Attention\s", nodes, re.M))
    softmax = len(re.findall(r"^\s+\d+\s+\S+\s+Softmax\s", nodes, re.M))
    assert attention == expected["attention"], f"{form}: {attention} Attention nodes, expected:\n{nodes}"
    if expected["attention"]:
        assert softmax == 0, f"{form}: Softmax left:\n{nodes}"
    else:
        assert softmax >= 1, f"{form}: the negative form lost its Softmax:\n{nodes}"
    lines, dims = _attention_lines(built.stdout + built.stderr)
    assert len(lines) == expected["attention"]
    causal = sum("is_causal=1" in ln for ln in lines)
    assert causal == expected.get("causal", 0), f"{form}: is_causal on {causal} nodes:\n" + "\n".join(lines)
    if "gqa" in expected:  # K and V fed un-repeated: their heads axis holds the kv heads
        for ln in lines:
            ins = re.search(r"= Attention\(([^)]*)\)", ln).group(1).split(", ")
            for kv in ins[1:3]:
                assert dims[kv][1].strip() == str(expected["gqa"]), f"{form}: {kv} has dims {dims[kv]}:\n{ln}"

    rng = np.random.default_rng(FORMS.index(form) + 1)
    feeds = _feeds(form, rng)
    ref_engine = str(tmp_path / "ref.kiln")
    _kiln(kiln, "build", model, "-o", ref_engine, "--backend", "reference", "--opt-level", "1")
    got = _run_kiln(kiln, engine, feeds, str(tmp_path))
    unfused = _run_kiln(kiln, ref_engine, feeds, str(tmp_path))
    rtol, atol = (1e-2, 1e-2) if fp16 else (1e-4, 1e-5)
    np.testing.assert_allclose(got, unfused, rtol=rtol, atol=atol, err_msg=f"{form}: vs the un-fused reference")
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    (want,) = sess.run(["y"], feeds)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"{form}: vs ONNX Runtime")
