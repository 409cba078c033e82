#!/usr/bin/env python3
"""Kiln vs PyTorch eager vs torch.compile on one GPU (issue 4): ResNet-50 and BERT-base, same inputs, same run.

Exports FP32 ONNX, builds Kiln FP16 engines, benchmarks Kiln (`kiln bench --no-transfers --cuda-graph`; throughput rows
with `--back-to-back 10`, as PyTorch's throughput loop runs back to back), PyTorch eager
and torch.compile (FP16, device-resident inputs), checks Kiln against PyTorch FP32, prints a table with ratios.
torch/torchvision/transformers are imported lazily (--dry-run needs none of them). Method: docs/benchmarks.md.
"""
import argparse
import inspect
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

# name, model, batch, kind ("throughput" or "latency"), target value, unit.
WORKLOADS = [
    ("ResNet-50 b128", "resnet50", 128, "throughput", 30000.0, "img/s"),
    ("ResNet-50 b1", "resnet50", 1, "latency", 0.35, "ms"),
    ("BERT-base s128 b64", "bert", 64, "throughput", 20000.0, "seq/s"),
    ("BERT-base s128 b1", "bert", 1, "latency", 0.45, "ms"),
]
BUILD_TARGET_S = 60.0
# FP16 vs FP32 relative L2 error allowed. ResNet-50 with random weights loses ~0.03 in FP16 in PyTorch itself (printed
# beside ours); a wrong kernel gives errors of order 1, so 5e-2 separates the two.
REL_L2_PASS = 5e-2
# INT8 (--precision int8) vs FP32: per-tensor activation scales cost ResNet-50 about 0.17-0.18 of rel L2 (CPU INT8 of
# ONNX Runtime's quantize_static: cosine 0.986; Kiln CUDA INT8 on an H200: 0.18), a broken int8 kernel gives order 1.
INT8_REL_L2_PASS = 0.3
SEQ = 128


def log(msg):
    print(f"[gpu_compare {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def one_line(err):
    """One line for an error: kiln's `... error: ...` line (or stderr's last line), else the exception's last line."""
    if isinstance(err, subprocess.CalledProcessError):
        if err.returncode < 0:
            return f"{os.path.basename(str(err.cmd[0]))} killed by signal {-err.returncode}"
        e = [l.strip() for l in (err.stderr or "").splitlines() if l.strip() and not l.startswith("Run with --help")]
        o = [l.strip() for l in (err.stdout or "").splitlines() if l.strip()]
        return next((l for l in e if "error" in l.lower()), (e or o[-1:] or [f"exit status {err.returncode}"])[0])
    if isinstance(err, subprocess.TimeoutExpired):
        return f"timed out after {err.timeout:.0f} s: {' '.join(map(str, err.cmd))[:160]}"
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[-1] if text else ''}"


def sh(cmd, timeout):
    """Runs a command, returns (stdout, seconds); raises CalledProcessError/TimeoutExpired."""
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise subprocess.CalledProcessError(r.returncode, cmd, r.stdout, r.stderr)
    return r.stdout, time.perf_counter() - t0


# ---------------------------------------------------------------- models, inputs, export (torch imported lazily)

def make_resnet50(calib_batches):
    """torchvision ResNet-50 with random weights. BatchNorm running stats are re-estimated on random images so that
    activations stay in a trained-network range (raw init stats let the residual stream grow past FP16's range)."""
    import torch
    import torchvision
    torch.manual_seed(0)
    m = torchvision.models.resnet50(weights=None)
    if calib_batches > 0:
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.reset_running_stats()
                mod.momentum = None  # cumulative average over the calibration batches
        dev = "cuda" if torch.cuda.is_available() else "cpu"
        m.to(dev).train()
        g = torch.Generator(device="cpu").manual_seed(1)
        with torch.no_grad():
            for _ in range(calib_batches):
                m(torch.randn(32, 3, 224, 224, generator=g).to(dev))
        m.cpu()
    return m.eval()


def build_bert(attn):
    """BERT-base (random weights, seed 0) wrapped to return only last_hidden_state, with the given attention."""
    import torch
    import transformers

    class Wrap(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask, return_dict=False)[0]

    try:
        cfg = transformers.BertConfig(attn_implementation=attn)
    except TypeError:
        cfg = transformers.BertConfig()
    try:
        cfg._attn_implementation = attn
    except AttributeError:  # older transformers: read-only property, the constructor argument already set it
        pass
    torch.manual_seed(0)
    return Wrap(transformers.BertModel(cfg, add_pooling_layer=False)).eval()


def make_bert(export_attn, torch_attn):
    """Two BERT-base modules with identical weights: one with the attention used for the ONNX export ("eager"
    exports plain MatMul/Softmax), one for the PyTorch baselines (default "sdpa", PyTorch's fastest)."""
    exp = build_bert(export_attn)
    if torch_attn == export_attn:
        return exp, exp
    try:
        ref = build_bert(torch_attn)
    except Exception as e:  # noqa: BLE001 -- e.g. a transformers without sdpa for BERT
        log(f"BERT with attention '{torch_attn}' unavailable ({one_line(e)}); PyTorch uses '{export_attn}'")
        return exp, exp
    ref.load_state_dict(exp.state_dict())
    return exp, ref


def make_inputs(model, batch, seed):
    """numpy inputs (the same arrays feed Kiln via .npy and PyTorch via torch.from_numpy)."""
    rng = np.random.default_rng(seed)
    if model == "resnet50":
        return {"input": rng.standard_normal((batch, 3, 224, 224), dtype=np.float32)}
    ids = rng.integers(0, 30522, size=(batch, SEQ), dtype=np.int64)
    lengths = rng.integers(SEQ // 2, SEQ + 1, size=batch)  # some padding, so the mask path is exercised
    lengths[0] = SEQ
    mask = (np.arange(SEQ)[None, :] < lengths[:, None]).astype(np.int64)
    return {"input_ids": ids, "attention_mask": mask}


def export_onnx(module, model, path, batch=2):
    """Traces with realistic inputs of `batch` rows (a mask with padding, so no "all ones" shortcut is traced)."""
    import torch
    feeds = make_inputs(model, batch, seed=1000 + batch)
    if model == "bert":
        feeds["attention_mask"][-1, SEQ // 2:] = 0  # padding in the traced mask at every batch size, 1 included
    args = tuple(torch.from_numpy(v) for v in feeds.values())
    names_in, names_out = list(feeds), ["output" if model == "resnet50" else "last_hidden_state"]
    dyn = {n: {0: "batch"} for n in names_in + names_out}
    kw = dict(opset_version=17, do_constant_folding=True, input_names=names_in, output_names=names_out,
              dynamic_axes=dyn)
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:  # older torch: TorchScript is the only exporter
        kw["dynamo"] = False
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings by the hundred; a real problem raises
        torch.onnx.export(module, args, path, **kw)
    return names_out


# ---------------------------------------------------------------- PyTorch timing

def warm_up(fn, duration, sync_each):
    """Runs fn for a third of the measurement time (at least 10 calls, at most 1 s); returns seconds per call."""
    import torch
    t0, n = time.perf_counter(), 0
    while n < 10 or time.perf_counter() - t0 < min(1.0, duration / 3):
        fn()
        if sync_each:
            torch.cuda.synchronize()
        n += 1
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / n


def time_throughput(fn, duration, windows):
    """Back-to-back iterations timed with CUDA events; returns ms per iteration (median over `windows` windows)."""
    import torch
    iters = max(5, int(duration / windows / max(warm_up(fn, duration, False), 1e-6)))
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    ms = []
    for _ in range(windows):
        s.record()
        for _ in range(iters):
            fn()
        e.record()
        e.synchronize()
        ms.append(s.elapsed_time(e) / iters)
    return {"ms_per_iter": float(np.median(ms)), "windows_ms": ms, "iters_per_window": iters}


def time_latency(fn, duration):
    """One synchronized iteration at a time, as `kiln bench` measures latency: host time of launch + sync, and the
    CUDA-event time of the same iteration. Returns medians and percentiles in ms."""
    import torch
    warm_up(fn, duration, True)
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    host, ev = [], []
    t0 = time.perf_counter()
    while len(host) < 20 or time.perf_counter() - t0 < duration:
        h = time.perf_counter()
        s.record()
        fn()
        e.record()
        e.synchronize()
        host.append((time.perf_counter() - h) * 1e3)
        ev.append(s.elapsed_time(e))
    return {"median_ms": float(np.median(host)), "p99_ms": float(np.percentile(host, 99)),
            "mean_ms": float(np.mean(host)), "event_median_ms": float(np.median(ev)), "iterations": len(host)}


def torch_feeds(model, feeds, half):
    """The numpy inputs on the GPU, in forward() order; images FP16 channels-last when `half`."""
    import torch
    if model == "resnet50":
        t = torch.from_numpy(feeds["input"]).cuda()
        return [(t.half() if half else t).contiguous(memory_format=torch.channels_last)]
    return [torch.from_numpy(feeds[n]).cuda() for n in ("input_ids", "attention_mask")]


def measure(fn, kind, batch, duration, windows):
    """Throughput rows: items/s from CUDA-event windows; latency rows: median ms of synchronized iterations."""
    r = time_throughput(fn, duration, windows) if kind == "throughput" else time_latency(fn, duration)
    r["value"] = batch * 1000.0 / r["ms_per_iter"] if kind == "throughput" else r["median_ms"]
    return r


def compile_and_time(module, args_t, kind, batch, mode, duration, windows):
    """torch.compile(module, mode) with a fresh dynamo cache; the first call's wall time is the build time."""
    import torch
    torch._dynamo.reset()
    cm = torch.compile(module, mode=mode, dynamic=False)
    graphs = "reduce-overhead" in mode or mode == "max-autotune"
    mark = getattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin", None)

    def fn():
        if graphs and mark is not None:
            mark()
        return cm(*args_t)

    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    build_s = time.perf_counter() - t0
    return dict(measure(fn, kind, batch, duration, windows), first_call_s=build_s, mode=mode)


def rel_errors(got, ref):
    got, ref = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        raise ValueError(f"shape {list(got.shape)} != reference {list(ref.shape)}")
    d = got - ref
    out = {"max_abs": float(np.max(np.abs(d))), "rel_l2": float(np.linalg.norm(d) / max(np.linalg.norm(ref), 1e-30)),
           "finite": bool(np.all(np.isfinite(got)))}
    if got.ndim == 2 and got.shape[1] > 1:  # classifier logits: how often the top class agrees
        out["top1_agree"] = float(np.mean(np.argmax(got, 1) == np.argmax(ref, 1)))
    return out


# ---------------------------------------------------------------- Kiln

def kiln_extra_build(args):
    return (["--timing-cache", args.timing_cache] if args.timing_cache else []) + shlex.split(args.kiln_build_args)


def calibration_args(args, model):
    """--precision int8|fp8: samples from the workload's input generator (held-out seeds) and one calibration cache per
    model, shared by its batch sizes; nothing when --kiln-build-args already names --calib or --calib-cache."""
    if not calibration_planned(args):
        return []
    root = os.path.join(args.tmp, f"calib_{model}")
    for i in range(args.calib_samples):
        folder = os.path.join(root, f"sample_{i:03d}")
        os.makedirs(folder, exist_ok=True)
        for name, value in make_inputs(model, args.calib_batch, seed=50000 + i).items():
            np.save(os.path.join(folder, name + ".npy"), value)
    return ["--calib", root, "--calib-cache", os.path.join(args.tmp, f"{model}_calib.json")]


def pass_threshold(args):
    return INT8_REL_L2_PASS if args.precision in ("int8", "fp8") else REL_L2_PASS


def kiln_build(args, model, onnx_path, engine, feeds):
    shapes = ",".join(f"{k}:{'x'.join(map(str, v.shape))}" for k, v in feeds.items())
    cmd = [args.kiln, "build", onnx_path, "--device", "cuda", "--precision", args.precision, "--shapes", shapes,
           "-o", engine] + kiln_extra_build(args) + calibration_args(args, model)
    out, dt = sh(cmd, args.build_timeout)
    return {"build_s": dt, "summary": (out.strip().splitlines() or [""])[-1]}


def kiln_bench(args, engine, json_path, profile, streams=1, back_to_back=1):
    cmd = [args.kiln, "bench", engine, "--no-transfers", "--json", json_path]
    if profile:
        cmd += ["--profile", "--duration", str(min(args.duration, 0.5))]
    else:
        cmd += ["--cuda-graph", "--duration", str(args.duration)]
        if streams > 1:
            cmd += ["--streams", str(streams)]
        if back_to_back > 1:
            cmd += ["--back-to-back", str(back_to_back)]
    cmd += shlex.split(args.kiln_bench_args)
    sh(cmd, args.duration + args.build_timeout)
    with open(json_path) as f:
        return json.load(f)


def kiln_run(args, engine, feeds, out_names, tag):
    """`kiln run` on .npy copies of the inputs; returns the outputs (files named as the CLI names them)."""
    cmd, outdir = [args.kiln, "run", engine], os.path.join(args.tmp, f"{tag}_out")
    for k, v in feeds.items():
        np.save(os.path.join(args.tmp, f"{tag}_{k}.npy"), v)
        cmd += ["--input", f"{k}={os.path.join(args.tmp, f'{tag}_{k}.npy')}"]
    sh(cmd + ["--output-dir", outdir, "--output-format", "npy"], args.build_timeout)
    safe = ["".join(c if c.isalnum() or c in "_-." else "_" for c in o) for o in out_names]
    return [np.load(os.path.join(outdir, f + ".npy")) for f in safe]


# ---------------------------------------------------------------- driver

class Stages:
    """Runs named stages; a failing stage prints one line, is recorded, and the run goes on."""

    def __init__(self):
        self.failures = []

    def run(self, rec, name, fn):
        log(f"{rec['workload']}: {name} ...")
        t0 = time.perf_counter()
        try:
            out = fn()
        except Exception as e:  # noqa: BLE001 -- any failure of a stage is reported, not fatal
            msg = one_line(e)
            print(f"FAILED {rec['workload']}: {name}: {msg}", flush=True)
            rec.setdefault("errors", {})[name] = msg
            self.failures.append(f"{rec['workload']}: {name}: {msg}")
            return None
        log(f"{rec['workload']}: {name} done ({time.perf_counter() - t0:.1f} s)")
        return out


def top_layers(layers, n=10):
    total = sum(l.get("ms", 0.0) for l in layers) or 1.0
    rows = sorted(layers, key=lambda l: -l.get("ms", 0.0))[:n]
    return [dict(l, share=l.get("ms", 0.0) / total) for l in rows], total


def ort_check(model, onnx_path, ref_cpu):
    """The exported file must agree with PyTorch FP32 at a batch other than the traced one (2): a batch size baked
    into the graph by tracing shows up here, before it is blamed on Kiln."""
    import onnxruntime as ort
    import torch
    feeds = make_inputs(model, 3, seed=3)
    got = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    with torch.inference_mode():
        ref = ref_cpu(*[torch.from_numpy(v) for v in feeds.values()]).float().numpy()
    e = rel_errors(got, ref)
    if not e["rel_l2"] < 1e-3:
        raise ValueError(f"ONNX Runtime disagrees with PyTorch at batch 3 (rel L2 {e['rel_l2']:.3g}); "
                         "the export may depend on the traced batch: try --onnx-per-batch")
    return e


def run_kiln(args, st, rec, onnx_path, feeds, tag):
    """Kiln stages of one workload: build, bench (CUDA graph), optional profile. Returns the engine path or None."""
    engine = os.path.join(args.tmp, tag + ".kiln")
    b = st.run(rec, "kiln build", lambda: kiln_build(args, rec["model"], onnx_path, engine, feeds))
    if b is None:
        return None
    rec["kiln_build_s"], rec["kiln_build_summary"] = b["build_s"], b["summary"]
    log(f"{rec['workload']}: {b['summary']}")
    thr = rec["kind"] == "throughput"
    j = st.run(rec, "kiln bench", lambda: kiln_bench(args, engine, os.path.join(args.tmp, tag + ".json"), False,
                                             args.streams if thr else 1, args.kiln_back_to_back if thr else 1))
    if j is not None:
        j.pop("layers", None)
        rec["kiln"] = j
        thr = rec["kind"] == "throughput"
        rec["kiln_value"] = j["throughput_inferences_per_s"] if thr else j["latency_ms"]["median"]
    if args.profile:
        p = st.run(rec, "kiln bench --profile",
                   lambda: kiln_bench(args, engine, os.path.join(args.tmp, tag + "_prof.json"), True))
        if p is not None:
            rows, total = top_layers(p.get("layers", []))
            by_op = {}
            for l in p.get("layers", []):
                k = f"{l.get('op', '')} [{l.get('placement', '')}]"
                n, ms = by_op.get(k, (0, 0.0))
                by_op[k] = (n + 1, ms + l.get("ms", 0.0))
            rec["kiln_profile"] = {"total_ms": total, "nodes": len(p.get("layers", [])), "top": rows,
                                   "by_op": sorted(([k, n, ms] for k, (n, ms) in by_op.items()), key=lambda x: -x[2])}
    return engine


def check_kiln(args, st, rec, engine, feeds, out_names, ref_out, tag):
    """Runs the engine once on the workload's inputs and compares its first output with PyTorch FP32."""
    k = st.run(rec, "kiln run (correctness)", lambda: kiln_run(args, engine, feeds, out_names, tag))
    c = None if k is None else st.run(rec, "compare", lambda: rel_errors(k[0], ref_out))
    if c is not None:
        c["pass"] = bool(c["finite"] and c["rel_l2"] < pass_threshold(args))
        rec["kiln_vs_fp32"] = c
        if not c["pass"]:
            st.failures.append(f"{rec['workload']}: Kiln output differs from PyTorch FP32 "
                               f"(rel L2 {c['rel_l2']:.3g}, max abs {c['max_abs']:.3g})")


def run_model(args, model, wls, st, records):
    import copy
    import torch
    recs = [{"workload": w[0], "model": model, "batch": w[2], "kind": w[3], "target": w[4], "unit": w[5]} for w in wls]
    records.extend(recs)
    onnx_path = os.path.join(args.tmp, f"{model}.onnx")

    def export():  # returns (module for the PyTorch runs, module that was exported, output names)
        m, ref = ((lambda r: (r, r))(make_resnet50(args.bn_calib_batches)) if model == "resnet50"
                  else make_bert(args.bert_export_attn, args.bert_torch_attn))
        return ref, m, export_onnx(m, model, onnx_path)

    got = st.run(recs[0], f"export {model} to ONNX", export)
    if got is None:
        for r in recs[1:]:
            r["errors"] = {"export": "ONNX export failed (see above)"}
        return
    ref_cpu, exp_module, out_names = got
    log(f"{model}: ONNX {os.path.getsize(onnx_path) / 2**20:.1f} MiB at {onnx_path}")
    st.run(recs[0], "check the ONNX file with ONNX Runtime at batch 3", lambda: ort_check(model, onnx_path, ref_cpu))
    ref32 = copy.deepcopy(ref_cpu).cuda().eval()
    half = copy.deepcopy(ref_cpu).half().cuda().eval()
    if model == "resnet50":
        half = half.to(memory_format=torch.channels_last)
    for rec in recs:
        batch, kind = rec["batch"], rec["kind"]
        feeds, tag = make_inputs(model, batch, seed=batch), f"{model}_b{batch}"
        path = os.path.join(args.tmp, f"{tag}.onnx") if args.onnx_per_batch else onnx_path
        if args.onnx_per_batch:  # fallback for exporters that bake the trace's batch size into the graph
            path = st.run(rec, "export at this batch", lambda: export_onnx(exp_module, model, path, batch)) and path
        engine = run_kiln(args, st, rec, path, feeds, tag) if path else None

        def reference():
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False  # a true FP32 reference
            with torch.inference_mode():
                y = ref32(*torch_feeds(model, feeds, half=False))
            torch.backends.cudnn.allow_tf32 = True  # PyTorch's default again
            return y.float().cpu().numpy()

        ref_out = st.run(rec, "PyTorch FP32 reference", reference)
        if ref_out is not None and engine is not None:
            check_kiln(args, st, rec, engine, feeds, out_names, ref_out, tag)
        args_h = torch_feeds(model, feeds, half=True)

        def eager():
            with torch.inference_mode():
                r = measure(lambda: half(*args_h), kind, batch, args.duration, args.windows)
                if ref_out is not None:
                    r["fp16_vs_fp32"] = rel_errors(half(*args_h).float().cpu().numpy(), ref_out)
            return r

        rec["eager"] = {} if args.kiln_only else st.run(rec, "PyTorch eager FP16", eager) or {}
        mode = args.compile_mode_throughput if kind == "throughput" else args.compile_mode_latency
        if mode != "none" and not args.kiln_only:
            def comp():
                with torch.inference_mode():
                    return compile_and_time(half, args_h, kind, batch, mode, args.duration, args.windows)

            rec["compile"] = st.run(rec, f"torch.compile ({mode})", comp) or {}
        torch._dynamo.reset()  # frees the compiled graphs before the next workload
        torch.cuda.empty_cache()


def fmt(v, unit, suffix=""):
    if v is None:
        return "-"
    return (f"{v:.3f} ms" if unit == "ms" else f"{v:.1f} s" if unit == "s" else f"{v:,.0f} {unit}") + suffix


def table(records):
    """Markdown table and its rows. Ratios are > 1 when Kiln is better (inverted for latency and build time)."""
    rows = []
    for r in records:
        k, e, c = r.get("kiln_value"), r.get("eager", {}).get("value"), r.get("compile", {}).get("value")
        up = r["kind"] == "throughput"
        mode = r.get("compile", {}).get("mode")
        rows.append({"workload": r["workload"], "eager": e, "compile": c, "compile_note": f" ({mode})" if mode else "",
                     "kiln": k, "target": r["target"], "higher_is_better": up, "unit": r["unit"]})
    rn = [r for r in records if r["model"] == "resnet50"]
    if rn:  # build time: the batch-128 engine when it was run, and torch.compile's first call on the same batch
        r = next((x for x in rn if x["kind"] == "throughput"), rn[0])
        rows.append({"workload": f"ResNet-50 engine build, b{r['batch']}", "eager": None,
                     "compile": r.get("compile", {}).get("first_call_s"), "compile_note": " (first call)",
                     "kiln": r.get("kiln_build_s"), "target": BUILD_TARGET_S, "higher_is_better": False, "unit": "s"})
    lines = ["| workload | PyTorch eager | torch.compile | Kiln | Kiln/eager | Kiln/compile | target | met? |",
             "|---|---|---|---|---|---|---|---|"]
    for w in rows:
        k, up = w["kiln"], w["higher_is_better"]
        for o in ("eager", "compile"):
            ok = k is not None and w[o] is not None and k > 0 and w[o] > 0
            w[f"kiln_over_{o}"] = None if not ok else (k / w[o] if up else w[o] / k)
        w["met"] = None if k is None else bool(k >= w["target"] if up else k <= w["target"])
        rs = [("-" if x is None else f"{x:.2f}x") for x in (w["kiln_over_eager"], w["kiln_over_compile"])]
        u = w["unit"]
        lines.append(f"| {w['workload']} | {fmt(w['eager'], u)} | {fmt(w['compile'], u, w['compile_note'])}"
                     f" | {fmt(k, u)} | {rs[0]} | {rs[1]} | {'>=' if up else '<='} {fmt(w['target'], u)}"
                     f" | {'-' if w['met'] is None else ('yes' if w['met'] else 'NO')} |")
    return "\n".join(lines), rows


def env_info(args):
    info = {"python": sys.version.split()[0]}
    for key, get in (("kiln", lambda: sh([args.kiln, "--version"], 30)[0].strip()),
                     ("torch", lambda: __import__("torch").__version__),
                     ("gpu", lambda: __import__("torch").cuda.get_device_name(0)),
                     ("torchvision", lambda: __import__("torchvision").__version__),
                     ("transformers", lambda: __import__("transformers").__version__)):
        try:
            info[key] = get()
        except Exception as e:  # noqa: BLE001 -- recorded; the stages that need it fail with their own message
            info[key] = "unavailable: " + one_line(e)
    return info


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kiln", default="build/bin/kiln", help="path of the kiln binary")
    ap.add_argument("--models", default="resnet50,bert", help="comma list of resnet50, bert")
    ap.add_argument("--batches", default="all", help="comma list choosing among 128 (ResNet), 64 (BERT), 1; or all")
    ap.add_argument("--duration", type=float, default=3.0, help="seconds each measurement runs (Kiln and PyTorch)")
    ap.add_argument("--windows", type=int, default=5, help="throughput: CUDA-event windows, the median is reported")
    ap.add_argument("--precision", default="fp16", help="Kiln build precision (int8, fp8: calibrated by the script, below)")
    ap.add_argument("--calib-samples", type=int, default=8,
                    help="--precision int8: calibration samples written per model (held-out seeds of the workload's "
                    "input generator), unless --kiln-build-args gives --calib or --calib-cache")
    ap.add_argument("--calib-batch", type=int, default=4, help="--precision int8: rows per calibration sample")
    ap.add_argument("--timing-cache", default="", help="passed to kiln build --timing-cache")
    ap.add_argument("--streams", type=int, default=1, help="kiln bench --streams for throughput workloads")
    ap.add_argument("--kiln-back-to-back", type=int, default=10,
                    help="kiln bench --back-to-back for throughput workloads: graph replays queued per host wait, "
                         "as PyTorch's throughput loop runs back to back (1: one host wait per run)")
    ap.add_argument("--kiln-build-args", default="", help="extra kiln build flags (one shell-quoted string)")
    ap.add_argument("--kiln-bench-args", default="", help="extra kiln bench flags (one shell-quoted string)")
    modes = ["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs", "none"]
    ap.add_argument("--compile-mode-throughput", default="default", choices=modes)
    ap.add_argument("--compile-mode-latency", default="reduce-overhead", choices=modes)
    ap.add_argument("--compile-mode", choices=modes, help="one mode for every workload (overrides the two above)")
    ap.add_argument("--bert-export-attn", default="eager", help="transformers attention used for the ONNX export")
    ap.add_argument("--bert-torch-attn", default="sdpa", help="transformers attention used for the PyTorch baselines")
    ap.add_argument("--bn-calib-batches", type=int, default=4, help="ResNet-50 BatchNorm re-estimation batches")
    ap.add_argument("--onnx-per-batch", action="store_true", help="export one ONNX file per workload batch")
    ap.add_argument("--kiln-only", action="store_true", help="skip the PyTorch eager and torch.compile timings")
    ap.add_argument("--profile", action="store_true", help="also run kiln bench --profile; print top 10 layers")
    ap.add_argument("--build-timeout", type=float, default=600.0, help="seconds allowed per kiln build/run")
    ap.add_argument("--workdir", default="", help="where ONNX files and engines go (default: a new temp folder)")
    ap.add_argument("--out", default="gpu_compare.json", help="JSON results file")
    ap.add_argument("--dry-run", action="store_true", help="check the arguments and print the plan; no torch, no GPU")
    a = ap.parse_args(argv)
    if a.compile_mode:
        a.compile_mode_throughput = a.compile_mode_latency = a.compile_mode
    models = [m.strip() for m in a.models.split(",") if m.strip()]
    if not models or set(models) - {"resnet50", "bert"}:
        ap.error(f"--models: '{a.models}' is not a comma list of resnet50, bert")
    try:
        batches = None if a.batches == "all" else {int(b) for b in a.batches.split(",") if b.strip()}
    except ValueError:
        ap.error(f"--batches: '{a.batches}' is not a comma list of integers")
    a.workloads = [w for w in WORKLOADS if w[1] in models and (batches is None or w[2] in batches)]
    if not a.workloads:
        ap.error(f"no workload matches --models {a.models} --batches {a.batches}; "
                 f"known: {', '.join(f'{w[1]} b{w[2]}' for w in WORKLOADS)}")
    if a.duration <= 0 or a.windows < 1 or a.streams < 1 or a.kiln_back_to_back < 1:
        ap.error("--duration must be > 0, --windows, --streams and --kiln-back-to-back >= 1")
    return a


def calibration_planned(args):
    given = shlex.split(args.kiln_build_args)
    return args.precision in ("int8", "fp8") and "--calib" not in given and "--calib-cache" not in given


def print_plan(args):
    print("Plan (dry run: nothing is exported, built or measured):", flush=True)
    for w in args.workloads:
        feeds = make_inputs(w[1], w[2], seed=w[2])
        shapes = ",".join(f"{k}:{'x'.join(map(str, v.shape))}" for k, v in feeds.items())
        mode = args.compile_mode_throughput if w[3] == "throughput" else args.compile_mode_latency
        calib = (f" --calib <workdir>/calib_{w[1]} ({args.calib_samples} samples of batch {args.calib_batch}, written "
                 f"here) --calib-cache <workdir>/{w[1]}_calib.json" if calibration_planned(args) else "")
        streams = f" --streams {args.streams}" if args.streams > 1 and w[3] == "throughput" else ""
        if args.kiln_back_to_back > 1 and w[3] == "throughput":
            streams += f" --back-to-back {args.kiln_back_to_back}"
        print(f"  {w[0]} ({w[3]}, target {'>=' if w[3] == 'throughput' else '<='} {w[4]:g} {w[5]}):\n"
              f"    export <workdir>/{w[1]}.onnx (opset 17, FP32, dynamic batch)\n"
              f"    {args.kiln} build <workdir>/{w[1]}.onnx --device cuda --precision {args.precision}"
              f" --shapes {shapes}"
              f" -o <workdir>/{w[1]}_b{w[2]}.kiln {' '.join(kiln_extra_build(args))}{calib}\n"
              f"    {args.kiln} bench <engine> --no-transfers --cuda-graph --duration {args.duration:g}{streams}"
              f"{' (and once more with --profile)' if args.profile else ''}\n"
              + f"    {args.kiln} run <engine> --input NAME=FILE.npy; PASS: rel L2 to PyTorch FP32 < "
              f"{pass_threshold(args):g}\n"
              f"    PyTorch eager FP16{' channels_last' if w[1] == 'resnet50' else ''}; torch.compile mode={mode}")
    print(f"  results -> {args.out}", flush=True)


def save(args, info, records, failures, t_start):
    """Writes the JSON results (also after every model, so a run cut short keeps what it measured)."""
    out = {"env": info, "args": {k: v for k, v in vars(args).items() if k != "workloads"}, "table": table(records)[1],
           "workloads": records, "failures": failures, "total_s": time.perf_counter() - t_start}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2, default=str)
    return out


def main(argv=None):
    args = parse_args(argv)
    if args.dry_run:
        print_plan(args)
        return 0
    if not os.path.exists(args.kiln):
        print(f"gpu_compare: error: kiln binary '{args.kiln}' not found (--kiln)", file=sys.stderr)
        return 2
    tmp = args.tmp = args.workdir or tempfile.mkdtemp(prefix="kiln_gpu_compare_")
    os.makedirs(tmp, exist_ok=True)
    t_start = time.perf_counter()
    info = env_info(args)
    log(f"environment: {json.dumps(info)}; workdir {tmp}")
    st, records = Stages(), []
    for model in dict.fromkeys(w[1] for w in args.workloads):
        try:
            run_model(args, model, [w for w in args.workloads if w[1] == model], st, records)
        except Exception as e:  # noqa: BLE001 -- e.g. torch missing or CUDA unavailable: report and go on
            st.failures.append(f"{model}: {one_line(e)}")
            print(f"FAILED {st.failures[-1]}", flush=True)
        save(args, info, records, st.failures, t_start)
    text, _ = table(records)
    print("\n" + text, flush=True)
    for r in records:
        c, p, fp16 = r.get("kiln_vs_fp32"), r.get("kiln_profile"), r.get("eager", {}).get("fp16_vs_fp32")
        if c:
            top1 = f", top-1 agreement {c['top1_agree']:.3f}" if "top1_agree" in c else ""
            print(f"{r['workload']}: Kiln vs PyTorch FP32: max abs {c['max_abs']:.4g}, rel L2 {c['rel_l2']:.4g}{top1} -> "
                  f"{'PASS' if c['pass'] else 'FAIL'}" + (f" (PyTorch FP16: {fp16['rel_l2']:.4g})" if fp16 else ""))
        if p:
            print(f"{r['workload']}: top Kiln layers (one profiled run, {p['nodes']} nodes, {p['total_ms']:.3f} ms):")
            for l in p["top"]:
                print(f"  {l.get('ms', 0):9.4f} ms {100 * l['share']:5.1f}%  {l.get('op', '')} {l.get('node', '')} "
                      f"[{l.get('placement', '')}, {l.get('kernel', '')}]")
            print(f"{r['workload']}: Kiln time by op: " +
                  ", ".join(f"{k} x{n} {ms:.3f} ms" for k, n, ms in p.get("by_op", [])[:8]))
    if st.failures:
        print("\nFailures:\n" + "\n".join("  " + f for f in st.failures), flush=True)
    out = save(args, info, records, st.failures, t_start)
    log(f"wrote {args.out}; total {out['total_s']:.0f} s")
    return 1 if st.failures else 0


if __name__ == "__main__":
    sys.exit(main())
