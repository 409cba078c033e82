"""Tests of bench/zoo_gpu.py without a GPU: --list without torch, the registry and groups, selection errors, inputs,
the table/geo-mean arithmetic, a run whose rows fail (one-line reasons, JSON, no crash), and, where torch is
installed, every model definition built (the plain-PyTorch detectors also run at a small image size).
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(REPO, "bench")
SCRIPT = os.path.join(BENCH, "zoo_gpu.py")
sys.path.insert(0, BENCH)
from zoo import inputs, registry, report  # noqa: E402
from zoo.gpu_run import check_limit  # noqa: E402


def run_script(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def test_list_needs_no_torch(tmp_path):
    blocker = tmp_path / "torch"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('torch must not be imported by --list')\n")
    r = run_script("--list", env={"PYTHONPATH": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    for m in registry.MODELS:
        assert m.name in r.stdout
    for g in registry.GROUPS:
        assert f"group {g}:" in r.stdout
    assert f"{len(registry.MODELS)} models, {len(registry.all_rows())} rows" in r.stdout


def test_registry_covers_the_issue():
    assert len(registry.MODELS) >= 25
    assert len({m.name for m in registry.MODELS}) == len(registry.MODELS)
    families = {m.family for m in registry.MODELS}
    assert {"classification", "detection", "vision-transformer", "text", "audio"} <= families
    for m in registry.MODELS:
        assert m.tput > 1 and m.outputs and m.inputs
        if m.hf:
            assert m.exporters == ("legacy", "dynamo"), m.name
    assert sum(1 for r in registry.all_rows() if r.endswith("[dynamo]")) >= 9


def test_every_group_fits_the_default_budget():
    for g in registry.GROUPS:
        plan = registry.select(group=g)
        assert plan, g
        assert registry.plan_estimate(plan) < 540, g


def test_select_rows_and_errors():
    plan = registry.select(names="bert-base[dynamo],resnet50")
    assert [(m.name, e) for m, e in plan] == [("resnet50", ["legacy"]), ("bert-base", ["dynamo"])]
    assert [e for _, e in registry.select(names="gpt2")] == [["legacy", "dynamo"]]
    for bad in ("nosuch", "resnet50[dynamo]", "bert-base[onnx]"):
        with pytest.raises(KeyError):
            registry.select(names=bad)
    with pytest.raises(KeyError):
        registry.select(group="nosuch")
    assert len(registry.select(group="all")) == len(registry.MODELS)


@pytest.mark.parametrize("argv,needle", [(["--group", "nosuch"], "unknown group 'nosuch'"),
                                         (["--models", "resnet50[dynamo]"], "unknown zoo row"),
                                         ([], "choose --group"),
                                         (["--models", "gpt2", "--batches", "1,x"], "--batches")])
def test_bad_arguments_are_one_line_errors(argv, needle):
    r = run_script(*argv)
    assert r.returncode == 2 and needle in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_inputs_are_deterministic_and_masked():
    m = registry.BY_NAME["bert-base"]
    a, b = inputs.make_inputs(m, 4, seed=4), inputs.make_inputs(m, 4, seed=4)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert a["input_ids"].shape == (4, registry.SEQ) and a["input_ids"].dtype == np.int64
    mask = a["attention_mask"]
    assert mask[0].all() and mask.sum(1).min() >= registry.SEQ // 2
    t = inputs.trace_inputs(m)
    assert t["attention_mask"][-1, -1] == 0
    img = inputs.make_inputs(registry.BY_NAME["resnet50"], 2, seed=2)["input"]
    assert img.shape == (2, 3, 224, 224) and img.dtype == np.float32


def _rec(row, batch, kiln, eager, compile_, ok=True, exporter="legacy"):
    r = report.new_record(registry.BY_NAME["resnet50"], exporter, row, batch)
    r["kiln"]["fp16"] = {"value": kiln, "pass": ok}
    r["eager"], r["compile"] = {"value": eager}, {"value": compile_}
    r["status"] = "ok" if ok else "FAIL"
    return r


def test_ratios_geomeans_and_failed_rows():
    recs = [_rec("a", 64, 200.0, 100.0, 100.0), _rec("b", 64, 100.0, 100.0, 200.0),
            _rec("c", 1, 0.5, 2.0, 1.0), _rec("d", 1, 1.0, 1.0, 1.0, ok=False),
            _rec("e", 64, 400.0, 100.0, 100.0, exporter="dynamo")]
    s = report.summary(recs, ["fp16"])["precisions"]["fp16"]
    assert s["throughput/legacy/kiln_over_compile"]["geomean"] == pytest.approx(1.0)  # sqrt(2 * 0.5)
    assert s["throughput/all/kiln_over_compile"]["rows"] == 3
    assert s["latency/all/kiln_over_compile"] == {"geomean": pytest.approx(2.0), "rows": 1}  # latency inverted
    assert s["throughput/below_0.9x_compile"] == ["b b64: 0.50x"]
    lines = report.table(recs, ["fp16"])
    assert len(lines) == 2 + len(recs) and "| FAIL |" in lines[5]
    report.fail(recs[0], "kiln build fp16: error")
    assert recs[0]["status"] == "FAIL"


def test_bf16_limit_follows_pytorch_bf16():
    r = {"torch_bf16_vs_fp32": {"rel_l2": 0.1}}
    assert check_limit(r, "fp16") == pytest.approx(0.05)
    assert check_limit(r, "bf16") == pytest.approx(0.2)
    assert check_limit({}, "bf16") == pytest.approx(0.4)


def test_failing_rows_are_reported_not_fatal(kiln_bin, tmp_path):
    """No GPU here: whatever fails first (torch missing, no CUDA, kiln build for cuda) makes FAIL rows with one-line
    reasons, the table is printed and the JSON written; the run does not crash."""
    out = tmp_path / "zoo.json"
    r = run_script("--kiln", kiln_bin, "--models", "mobilenet_v2", "--workdir", str(tmp_path / "w"), "--out",
                   str(out), "--calib", "1x2", "--budget-s", "240", "--export-jobs", "1")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stdout
    data = json.loads(out.read_text())
    recs = data["records"]
    assert [x["batch"] for x in recs] == [1, 128]
    for x in recs:
        assert x["status"] in ("FAIL", "skipped") and x["reasons"], x
        assert all("\n" not in why for why in x["reasons"])
    assert "| mobilenet_v2 | 128 |" in r.stdout


def test_every_model_builds():
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    pytest.importorskip("transformers")
    from zoo import weights
    for m in registry.MODELS:
        mod = weights.build(m)
        assert sum(p.numel() for p in mod.parameters()) > 1e6, m.name
    from zoo.detr import DetrStyle
    from zoo.yolo import YoloStyle
    with torch.no_grad():
        logits, boxes = DetrStyle(image=128, layers=1).eval()(torch.randn(1, 3, 128, 128))
        assert logits.shape == (1, 100, 92) and boxes.shape == (1, 100, 4)
        y = YoloStyle(image=128).eval()(torch.randn(2, 3, 128, 128))
        assert y.shape == (2, 84, 16 * 16 + 8 * 8 + 4 * 4)


FAKE_KILN = r'''#!/usr/bin/env python3
"""A stand-in for kiln run/bench: outputs = the row's PyTorch reference x $FAKE_SCALE; fixed bench figures."""
import json, os, sys
import numpy as np
a = sys.argv[1:]
if a[0] == "run":
    engine, outdir = a[1], a[a.index("--output-dir") + 1]
    model, _, batch = os.path.basename(engine).split(".")[:3]
    os.makedirs(outdir, exist_ok=True)
    ref = np.load(os.path.join(os.path.dirname(engine), f"{model}.{batch}.ref0.npy"))
    np.save(os.path.join(outdir, "logits.npy"), ref * float(os.environ.get("FAKE_SCALE", "1")))
elif a[0] == "bench":
    with open(a[a.index("--json") + 1], "w") as f:
        json.dump({"throughput_inferences_per_s": 1000.0, "latency_ms": {"median": 0.5}, "layers": []}, f)
'''


class FakeWorker:
    """Stands in for a torch_worker child: answers "measure" with fixed eager/compile figures."""

    def __init__(self, batches):
        import queue
        self.events, self.sent = queue.Queue(), []
        self.result = {"event": "result", "seconds": 1.0, "errors": {"b1: torch.compile timing": "boom"},
                       "batches": {str(b): {"eager": {"value": 500.0 if b > 1 else 1.0},
                                            "compile": {"value": 800.0 if b > 1 else 0.25}} for b in batches}}

    def send(self, line):
        self.sent.append(line)
        if line == "measure":
            self.events.put(self.result)

    def running(self):
        return True

    def next_event(self, timeout):
        return None if self.events.empty() else self.events.get()

    def stop(self):
        return 0


def test_kiln_check_bench_and_pytorch_figures_fill_the_rows(tmp_path, monkeypatch):
    import argparse
    from zoo import gpu_run
    kiln = tmp_path / "kiln"
    kiln.write_text(FAKE_KILN)
    kiln.chmod(0o755)
    m = registry.BY_NAME["mobilenet_v2"]
    args = argparse.Namespace(kiln=str(kiln), tmp=str(tmp_path), out=str(tmp_path / "zoo.json"), batches=["1", "tput"],
                              precision="fp16", bf16=False, budget_s=100.0, build_timeout=60.0, duration=0.1,
                              kiln_bench_args="", kiln_back_to_back=10, profile=False, export_jobs=1,
                              prepare_timeout=30.0)
    run = gpu_run.Run(args, [(m, ["legacy"])], {})
    rng = np.random.default_rng(0)
    for r in run.records:
        inputs.write_inputs(str(tmp_path), m, r["batch"])
        np.save(inputs.ref_path(str(tmp_path), m, r["batch"], 0), rng.standard_normal((r["batch"], 1000)))
        engine = tmp_path / f"{m.name}.legacy.b{r['batch']}.fp16.kiln"
        engine.write_text("engine")
        r["kiln"]["fp16"] = {"engine": str(engine), "build_s": 1.0}
    run.models[m.name].update(admitted=True, worker=FakeWorker([1, 128]),
                              ready={"event": "ready", "seconds": 2.0, "errors": {}, "info": {"batches": {
                                  "1": {"compile_mode": "reduce-overhead", "torch_fp16_vs_fp32": {"rel_l2": 1e-3}},
                                  "128": {"compile_mode": "default"}}}})
    printed = []
    gpu_run.phase_measure(run, printed.extend)
    b1, b128 = run.records
    assert b1["status"] == b128["status"] == "ok", (b1["reasons"], b128["reasons"])
    assert b1["kiln"]["fp16"]["pass"] and b1["kiln"]["fp16"]["vs_fp32"]["rel_l2"] == 0.0
    assert b1["kiln"]["fp16"]["value"] == 0.5 and b128["kiln"]["fp16"]["value"] == 1000.0
    assert report.ratio(b1, 0.5, "compile") == pytest.approx(0.5)  # 0.25 ms / 0.5 ms
    assert report.ratio(b128, 1000.0, "eager") == pytest.approx(2.0)
    assert b1["compile"]["mode"] == "reduce-overhead" and any("boom" in x for x in b1["reasons"])
    assert len(printed) == 2 and json.loads((tmp_path / "zoo.json").read_text())["records"][0]["status"] == "ok"
    # a wrong answer is a FAIL row with its reason, and its speed counts in no geo-mean
    monkeypatch.setenv("FAKE_SCALE", "1.5")
    r = report.new_record(m, "legacy", "mobilenet_v2", 1)
    r["kiln"]["fp16"] = {"engine": str(tmp_path / f"{m.name}.legacy.b1.fp16.kiln")}
    gpu_run.check_and_bench(run, m, r, "fp16")
    assert r["status"] == "FAIL" and r["reasons"][0].startswith("wrong output fp16: rel L2 0.5 > 0.05")
    assert report.kiln_value(r, "fp16") is None


def test_build_row_runs_kiln_build_with_the_rows_shapes(tmp_path):
    """The build phase against a stand-in kiln executable (no GPU): the command it runs carries the row's model,
    shapes and precision, and a successful build is recorded, not turned into a failure."""
    import types
    from zoo import gpu_run

    fake = tmp_path / "kiln"
    fake.write_text("#!/bin/sh\necho \"$@\" > \"$(dirname \"$0\")/argv\"\necho built ok\n")
    fake.chmod(0o755)
    args = types.SimpleNamespace(kiln=str(fake), tmp=str(tmp_path), build_timeout=30, timing_cache="",
                                 kiln_build_args="", precision="fp16")
    run = types.SimpleNamespace(args=args, budget=gpu_run.Budget(60))
    m = types.SimpleNamespace(name="tiny", est=types.SimpleNamespace(build=1.0))
    r = {"row": "tiny", "batch": 4, "exporter": "legacy", "kiln": {}, "status": "pending", "reasons": [],
         "notes": []}
    gpu_run.build_row(run, m, r, str(tmp_path / "tiny.onnx"), {"x": np.zeros((4, 3), np.float32)}, "fp16", 0)
    assert r["status"] == "pending", r["reasons"]
    assert r["kiln"]["fp16"]["summary"] == "built ok"
    argv = (tmp_path / "argv").read_text()
    assert "--shapes x:4x3" in argv and "--precision fp16" in argv and "tiny.onnx" in argv
