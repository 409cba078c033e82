#!/usr/bin/env python3
"""Kiln's CPU backend vs ONNX Runtime (CPU EP) on >= 20 real architectures plus the bundled models, interleaved.

For each model: `kiln build --device cpu` once (dynamic batch), then per (batch, threads): `kiln run` on fixed
inputs (outputs checked against ORT's on the same inputs), one `kiln bench` child and one ORT child process
(tools: bench/cpu_models/ort_worker.py) for the same duration, each child's peak RSS read with wait4.
Prints model, batch, threads, Kiln and ORT inferences/s (= runs/s x batch), ratio, median latencies, peak RSS,
max abs/rel output error with its tolerance; then geo-means of the ratio per thread count. docs/benchmarks-cpu.md.

Usage: python3 bench/cpu_compare.py [--models all|NAME,...|CATEGORY,...] [--duration 3] [--threads 1,N]
       [--batches 1,tput] [--precision fp32|bf16|int8|dynamic-int8] [--kiln build/bin/kiln] [--json out.json] [--include-reference]
Models are exported once with PyTorch into --model-dir (scripts/setup_bench.sh installs torch).
"""
import argparse
import json
import math
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "cpu_models"))
import procs  # noqa: E402
import report  # noqa: E402
import zoo  # noqa: E402

# Bundled models (models/make_models.py): name -> ([(input, shape with "B", kind)], throughput batch).
BUNDLED = {
    "small_cnn": ([("image", ("B", 3, 32, 32), "float")], 32),
    "transformer_block": ([("tokens", ("B", 16, 64), "float"), ("attention_mask", ("B", 1, 1, 16), "zeros")], 8),
    "lstm_seq": ([("x", ("B", 20, 16), "float")], 16),
    "decoder": ([("latent", ("B", 8, 4, 4), "float")], 16),
    # A detector's post-process over 1000 boxes x 10 classes: Softmax, ArgMax, ReduceMax, TopK, GatherElements, CumSum.
    "postprocess": ([("scores", ("B", 1000, 10), "float")], 32),
}
# Models the int8 modes leave out, and why (printed): nothing in them is quantized compute.
FLOAT_ONLY = {"postprocess": "no convolution or matmul: quantize_static only puts Q/DQ on its scores, whose ties "
                             "then decide TopK/ArgMax picks by one rounding step"}
# fp32: the per-model tolerance in zoo.py. int8: Kiln and ORT run the same Q/DQ model; their int8 kernels may round
# a requantized value differently by one step, which later layers carry on: 10% of the output's largest magnitude
# (ResNet-50: Kiln vs ORT 6.8%, while each is at cosine 0.986 from the FP32 model's output). bf16: 0.01 + 5% of the
# largest magnitude, or twice what rounding weights and inputs to bf16 costs ORT FP32 (bf16_rounding_floor).
TOL = {"fp32": None, "bf16": (1e-2, 5e-2), "int8": (0.0, 0.1), "dynamic-int8": (0.0, 0.1)}


def parse_args():
    ncores = len(os.sched_getaffinity(0))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", default=os.path.join(HERE, "..", "build", "bin", "kiln"))
    ap.add_argument("--models", default="all", help="all, names, categories (cnn, transformer, detection, "
                    "segmentation, audio, mlp, bundled), comma-separated")
    ap.add_argument("--model-dir", default=None, help="export cache (default $KILN_BENCH_MODELS or "
                    "~/.cache/kiln/cpu_models)")
    ap.add_argument("--duration", type=float, default=3.0, help="seconds measured per engine and row")
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--threads", default=f"1,{ncores}", help="comma-separated thread counts")
    ap.add_argument("--batches", default="1,tput", help="comma-separated batch sizes; tput = the model's "
                    "throughput batch")
    ap.add_argument("--precision", choices=["fp32", "bf16", "int8", "dynamic-int8"], default="fp32",
                    help="Kiln's precision (ORT: fp32); int8: both run the model as ORT's quantize_static makes it "
                    "(QDQ), dynamic-int8: as its quantize_dynamic makes it (MatMulInteger; transformers, "
                    "bench/cpu_models/qdq.py)")
    ap.add_argument("--include-reference", action="store_true", help="also time `kiln build --backend reference` "
                    "(the oracle, ~70x slower) at 1 thread")
    ap.add_argument("--timeout", type=float, default=900, help="seconds before a child process is killed")
    ap.add_argument("--json", help="write rows, geo-means and the machine to this file")
    ap.add_argument("--keep", action="store_true", help="keep engines, inputs and outputs (printed folder)")
    ap.add_argument("--int8-float", default="fp16", choices=["fp16", "fp32"],
                    help="--precision int8: kiln build --int8-float (fp16: the float layers ORT's quantizer leaves, e.g. "
                         "LSTMs, in bf16 on CPUs with native bf16, as TensorRT's --int8 --fp16; fp32: float32)")
    args = ap.parse_args()
    args.threads = sorted({int(t) for t in args.threads.split(",")})
    return args


def select_models(spec):
    names = list(zoo.MODELS) + list(BUNDLED)
    if spec == "all":
        return names
    out = []
    for tok in spec.split(","):
        if tok in zoo.MODELS or tok in BUNDLED:
            out.append(tok)
        elif tok == "bundled":
            out += list(BUNDLED)
        elif any(s.category == tok for s in zoo.MODELS.values()):
            out += [n for n, s in zoo.MODELS.items() if s.category == tok]
        else:
            sys.exit(f"cpu_compare: unknown model or category '{tok}' (models: {', '.join(names)})")
    return list(dict.fromkeys(out))


def resolve_models(names, model_dir):
    """name -> {path, inputs: [(name, shape with B, kind)], tput, tol, category} or {error}."""
    out = {}
    zoo_names = [n for n in names if n in zoo.MODELS]
    if zoo_names:
        import export
        manifest, errors = export.ensure(zoo_names, model_dir, log=lambda s: print("  " + s, flush=True))
        for n in zoo_names:
            s = zoo.MODELS[n]
            if n in errors:
                out[n] = {"error": "export: " + errors[n], "category": s.category}
            else:
                out[n] = {"path": os.path.join(model_dir, manifest[n]["file"]), "tput": s.tput, "tol": s.tol,
                          "category": s.category, "inputs": [(i.name, i.shape, i.kind) for i in s.inputs]}
    bundled = [n for n in names if n in BUNDLED]
    if bundled:
        sys.path.insert(0, os.path.join(HERE, "..", "models"))
        import make_models
        bdir = os.path.join(model_dir, "bundled")
        paths = make_models.write_all(bdir)
        for n in bundled:
            ins, tput = BUNDLED[n]
            out[n] = {"path": paths[n], "tput": tput, "tol": zoo.DEFAULT_TOL, "category": "bundled", "inputs": ins}
    return {n: out[n] for n in names}


def make_inputs(inputs, batch, folder, seed=0):
    """Writes one .npy per input (float: uniform [-1, 1) like kiln bench; ids in range; masks) -> {name: path}."""
    rng = np.random.default_rng(seed)
    files = {}
    for name, shape, kind in inputs:
        dims = tuple(batch if d == "B" else d for d in shape)
        if kind == "float":
            a = rng.uniform(-1, 1, dims).astype(np.float32)
        elif kind.startswith("ids:"):
            a = rng.integers(0, int(kind[4:]), dims, dtype=np.int64)
        elif kind == "ones":
            a = np.ones(dims, np.int64)
        elif kind == "zeros":
            a = np.zeros(dims, np.float32)
        else:
            raise ValueError(kind)
        files[name] = os.path.join(folder, f"in_{len(files)}.npy")
        np.save(files[name], a)
    return files


def shapes_arg(inputs, batch):
    return ",".join(f"{n}:" + "x".join(str(batch if d == "B" else d) for d in shape) for n, shape, _ in inputs)


def kiln_build(args, model, engine, backend=None):
    cmd = [args.kiln, "build", model, "-o", engine, "--device", "cpu"]
    if backend:
        cmd += ["--backend", backend]
    elif args.precision == "int8":  # the Q/DQ model as it is (explicit quantization); float layers as --int8-float says
        cmd += ["--precision", "int8", "--int8-float", args.int8_float]
    else:
        cmd += ["--precision", "fp32" if args.precision == "dynamic-int8" else args.precision]
    return procs.run_child(cmd, args.timeout)


def kiln_threads(args, sub, threads):
    return ["--threads", str(threads)] if procs.cli_has(args.kiln, sub, "--threads") else []


def kiln_bench(args, engine, inputs, batch, threads, folder):
    js = os.path.join(folder, f"kb_{batch}_{threads}.json")
    cmd = [args.kiln, "bench", engine, "--shapes", shapes_arg(inputs, batch), "--duration", str(args.duration),
           "--warmup", str(args.warmup), "--iterations", "3", "--json", js, *kiln_threads(args, "bench", threads)]
    r = procs.run_child(cmd, args.timeout, procs.thread_env(threads))
    if r.rc != 0:
        return None, r
    return json.load(open(js)), r


def kiln_outputs(args, engine, files, threads, folder):
    """Runs `kiln run` on the input files; returns ({file stem: array}, error or None)."""
    out_dir = os.path.join(folder, f"kout_{threads}")
    cmd = [args.kiln, "run", engine, "--output-dir", out_dir, "--output-format", "npy",
           *kiln_threads(args, "run", threads)]
    for name, path in files.items():
        cmd += ["--input", f"{name}={path}"]
    r = procs.run_child(cmd, args.timeout, procs.thread_env(threads))
    if r.rc != 0:
        return None, _prefixed("kiln run", r.one_line_error())
    return {f[:-4]: np.load(os.path.join(out_dir, f)) for f in os.listdir(out_dir) if f.endswith(".npy")}, None


def ort_child(args, model, files, threads, folder):
    job = {"model": model, "inputs": files, "threads": threads, "duration": args.duration, "warmup": args.warmup,
           "iterations": 3, "out_dir": os.path.join(folder, f"oout_{threads}"),
           "result": os.path.join(folder, f"ort_{threads}.json")}
    path = os.path.join(folder, f"ort_job_{threads}.json")
    json.dump(job, open(path, "w"))
    r = procs.run_child([sys.executable, os.path.join(HERE, "cpu_models", "ort_worker.py"), path], args.timeout,
                        procs.thread_env(threads))
    res = json.load(open(job["result"])) if os.path.exists(job["result"]) else \
        {"ok": False, "error": r.one_line_error()}
    if res["ok"]:
        res["peak_mb"] = r.peak_mb
        res["arrays"] = [np.load(os.path.join(job["out_dir"], f"{i}.npy")) for i in range(len(res["outputs"]))]
    return res


def _prefixed(cmd, line):
    return line if line.startswith("kiln ") else f"{cmd}: {line}"


def fp32_reference(model, files, cache, batch):
    """ONNX Runtime's outputs of the float model on these input files (cached per batch: the files are rewritten
    for each batch under the same names)."""
    key = (batch, tuple(sorted(files.items())))
    if key not in cache:
        import onnxruntime
        sess = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
        feeds = {name: np.load(path) for name, path in files.items()}
        cache[key] = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    return cache[key]


def to_bf16(a):
    """float32 values rounded to the nearest bfloat16 (ties to even), kept as float32."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000).astype(np.uint32).view(np.float32)


def bf16_rounding_floor(model, files, ort_res, cache, batch):
    """The error bf16 storage alone causes: ONNX Runtime FP32 on the model with its weight matrices and kernels
    (float initializers of rank >= 2) and its float inputs rounded to bfloat16, as max abs distance to ORT's own
    FP32 outputs over all outputs (cached per batch). Deep random-weight networks amplify that rounding: ResNet-50's
    is 0.20 on logits of 3.6, beyond the fixed 0.01 + 5% (docs/benchmarks-cpu.md)."""
    key = (batch, tuple(sorted(files.items())))
    if key not in cache:
        import onnx
        import onnxruntime
        from onnx import numpy_helper
        m = onnx.load(model)
        for init in m.graph.initializer:
            a = numpy_helper.to_array(init)
            if a.dtype == np.float32 and a.ndim >= 2:
                init.CopyFrom(numpy_helper.from_array(to_bf16(a), init.name))
        sess = onnxruntime.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        feeds = {}
        for name, path in files.items():
            x = np.load(path)
            feeds[name] = to_bf16(x) if x.dtype == np.float32 else x
        got = sess.run(None, feeds)
        cache[key] = max(float(np.max(np.abs(g.astype(np.float64) - r.astype(np.float64)))) if r.size else 0.0
                         for g, r in zip(got, ort_res["arrays"]))
    return cache[key]


def rel_l2_to(fp32, kiln_out, ort_res):
    """Largest distance to the float model's outputs over all outputs: (Kiln's, ORT's). Float outputs: relative L2;
    integer outputs (class indices of an ArgMax over quantized scores, where one rounding step flips a tie): the
    share of elements that differ."""
    worst_k, worst_o = 0.0, 0.0
    for name, ort_arr in zip(ort_res["outputs"], ort_res["arrays"]):
        stem = "".join(c if c.isalnum() or c in "_-." else "_" for c in name)
        got, ref = kiln_out.get(stem), fp32.get(name)
        if got is None or ref is None or got.shape != ref.shape:
            return None, None
        if not np.issubdtype(ref.dtype, np.floating):
            worst_k = max(worst_k, float(np.mean(got != ref)) if ref.size else 0.0)
            worst_o = max(worst_o, float(np.mean(ort_arr != ref)) if ref.size else 0.0)
            continue
        norm = float(np.linalg.norm(ref.astype(np.float64))) or 1.0
        worst_k = max(worst_k, float(np.linalg.norm(got.astype(np.float64) - ref)) / norm)
        worst_o = max(worst_o, float(np.linalg.norm(ort_arr.astype(np.float64) - ref)) / norm)
    return worst_k, worst_o


def compare(kiln_out, ort_res, tol):
    """Max abs error and error relative to ORT's largest magnitude over all outputs; ok = abs <= atol + rtol*max."""
    worst_abs, worst_rel, ok, why = 0.0, 0.0, True, ""
    atol, rtol = tol
    for name, ref in zip(ort_res["outputs"], ort_res["arrays"]):
        stem = "".join(c if c.isalnum() or c in "_-." else "_" for c in name)
        got = kiln_out.get(stem)
        if got is None or got.shape != ref.shape:
            return None, None, False, f"output {name}: " + ("missing" if got is None else
                                                             f"shape {got.shape} vs ORT {ref.shape}")
        diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
        if not np.all(np.isfinite(got)) and np.all(np.isfinite(ref)):
            ok, why = False, f"output {name}: non-finite values"
        scale = float(np.max(np.abs(ref))) if ref.size else 0.0
        a = float(np.max(diff)) if diff.size else 0.0
        worst_abs, worst_rel = max(worst_abs, a), max(worst_rel, a / scale if scale > 0 else a)
        if not a <= atol + rtol * scale:
            ok, why = False, why or f"output {name}: max abs err {a:.3g} > {atol:g} + {rtol:g} x {scale:.3g}"
    return worst_abs, worst_rel, ok, why


def bench_model(args, name, m, root):
    """All rows of one model (one per batch x threads); a failing step puts its one-line error in the row."""
    rows = []
    base = {"model": name, "category": m["category"]}
    if "error" in m:
        return [dict(base, batch="-", threads="-", error=m["error"])]
    folder = os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    float_path = m.get("path")
    if args.precision == "int8":
        import qdq
        try:
            batch0 = 1
            m = dict(m, path=qdq.quantize(m["path"], os.path.join(folder, "model_qdq.onnx"), lambda seed: {
                k: np.load(v) for k, v in make_inputs(m["inputs"], batch0, folder, seed=100 + seed).items()}))
        except Exception as e:  # noqa: BLE001 - one row per model says why
            return [dict(base, batch="-", threads="-", error=f"ORT quantize_static: {str(e).splitlines()[0]}")]
    if args.precision == "dynamic-int8":
        import qdq
        try:
            m = dict(m, path=qdq.quantize_dynamic_model(m["path"], os.path.join(folder, "model_dynamic.onnx")))
        except Exception as e:  # noqa: BLE001 - one row per model says why
            return [dict(base, batch="-", threads="-", error=f"ORT quantize_dynamic: {str(e).splitlines()[0]}")]
    engine = os.path.join(folder, "model.kiln")
    b = kiln_build(args, m["path"], engine)
    build_err = None if b.rc == 0 else _prefixed("kiln build", b.one_line_error())
    ref_engine = None
    if args.include_reference and procs.cli_has(args.kiln, "build", "--backend"):
        ref_engine = os.path.join(folder, "model_ref.kiln")
        if kiln_build(args, m["path"], ref_engine, backend="reference").rc != 0:
            ref_engine = None
    tol = TOL[args.precision] or tuple(m["tol"])
    fp32_cache, floor_cache = {}, {}
    batches = [m["tput"] if t == "tput" else int(t) for t in args.batches.split(",")]
    for batch in list(dict.fromkeys(batches)):
        files = make_inputs(m["inputs"], batch, folder)
        for threads in args.threads:
            row = dict(base, batch=batch, threads=threads, tol=tol[1], build_s=round(b.seconds, 1))
            if build_err is None:
                kout, err = kiln_outputs(args, engine, files, threads, folder)
                kb, kr = kiln_bench(args, engine, m["inputs"], batch, threads, folder) if err is None else (None, None)
                if kb is None:
                    row["error"] = err or _prefixed("kiln bench", kr.one_line_error())
                else:
                    row.update(kiln_ips=kb["throughput_qps"] * batch, kiln_ms=kb["latency_ms"]["median"],
                               kiln_mb=kr.peak_mb, backend=kb.get("backend"), kiln_memory=kb.get("memory"))
            else:
                row["error"] = build_err
            o = ort_child(args, m["path"], files, threads, folder)
            if o["ok"]:
                row.update(ort_ips=o["qps"] * batch, ort_ms=o["median_ms"], ort_mb=o["peak_mb"])
                if "kiln_ips" in row:
                    row["ratio"] = row["kiln_ips"] / row["ort_ips"]
                    row["max_abs"], row["max_rel"], row["ok"], why = compare(kout, o, tol)
                    if args.precision == "int8":
                        # Kiln runs attention's scores in float32 (fold_qdq_attention) and rounds once where ORT
                        # rounds twice (fuse_qconv_add, fuse_qmatmul_bias): also judge both against the float model;
                        # as close to it as ORT's Q/DQ run passes, within 10%: on one image the one-step differences
                        # land either side (RegNet-Y b1 0.113 vs ORT 0.104, b16 0.108 vs 0.113; docs/int8.md).
                        fp = fp32_reference(float_path, files, fp32_cache, batch)
                        k_rl2, o_rl2 = rel_l2_to(fp, kout, o)
                        row["kiln_fp32_rl2"], row["ort_fp32_rl2"] = k_rl2, o_rl2
                        if not row["ok"] and k_rl2 is not None and k_rl2 <= 1.10 * o_rl2 + 1e-3:
                            row["ok"], why = True, (f"differs from ORT's Q/DQ run, as close to fp32: rel L2 "
                                                    f"{k_rl2:.4f} vs ORT {o_rl2:.4f}")
                    if args.precision == "bf16" and not row["ok"] and row["max_abs"] is not None:
                        # Budget: the fixed tolerance, or twice the error of rounding weights and inputs to bf16
                        # (Kiln also rounds activations between layers), whichever is larger.
                        floor = bf16_rounding_floor(m["path"], files, o, floor_cache, batch)
                        row["bf16_floor_abs"] = floor
                        if row["max_abs"] <= 2 * floor:
                            row["ok"], why = True, (f"{why}; within 2x of what rounding weights and inputs to bf16 "
                                                    f"costs ORT FP32 ({floor:.3g})")
                    if why:
                        row["check"] = why
            else:
                row["error"] = (row.get("error", "") + " | ORT: " + o["error"]).lstrip(" |")
            if ref_engine and threads == 1:
                rb, _ = kiln_bench(args, ref_engine, m["inputs"], batch, 1, folder)
                row["ref_ips"] = rb["throughput_qps"] * batch if rb else None
            rows.append(row)
            report.print_row(row, args.include_reference)
    return rows


def main():
    args = parse_args()
    if not os.path.exists(args.kiln):
        sys.exit(f"cpu_compare: no kiln binary at {args.kiln} (build it, or pass --kiln)")
    import onnxruntime
    model_dir = args.model_dir or os.environ.get("KILN_BENCH_MODELS",
                                                 os.path.expanduser("~/.cache/kiln/cpu_models"))
    names = select_models(args.models)
    if args.precision in ("int8", "dynamic-int8"):
        for name in [n for n in names if n in FLOAT_ONLY]:
            print(f"{name}: left out of --precision {args.precision}: {FLOAT_ONLY[name]}")
        names = [n for n in names if n not in FLOAT_ONLY]
    machine = dict(procs.machine_info(), onnxruntime=onnxruntime.__version__, precision=args.precision,
                   kiln=os.path.abspath(args.kiln))
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, {' '.join(machine['isa'])}; ORT "
          f"{machine['onnxruntime']}; Kiln precision {args.precision}; {args.duration} s per engine and row")
    models = resolve_models(names, model_dir)
    root = tempfile.mkdtemp(prefix="kiln_cpu_compare_")
    report.print_header(args.include_reference)
    rows, t0 = [], time.time()
    for name in names:
        rows += bench_model(args, name, models[name], root)
    summary = report.summarize(rows, args.threads)
    report.print_summary(summary, rows)
    print(f"{len(names)} models, {len(rows)} rows, {time.time() - t0:.0f} s" +
          (f"; files kept in {root}" if args.keep else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "args": vars(args), "rows": rows, "summary": summary}, f, indent=1)
    if not args.keep:
        import shutil
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
