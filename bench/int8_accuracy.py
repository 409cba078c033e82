#!/usr/bin/env python3
"""INT8 vs FP32 agreement of Kiln's CPU engines on pretrained ONNX models that pip wheels ship, with real inputs.

Per model (bench/int8_models/case_*.py): the ONNX file is found inside its installed pip package (nothing is
downloaded), real inputs from packages go through the package's own preprocessing into a calibration set and a
disjoint evaluation set, then:
  1. ONNX Runtime FP32 and `kiln build --device cpu` (FP32) on the evaluation set: the sanity row (Kiln vs ORT);
  2. `kiln calibrate --calib DIR` (timed: the calibration time) and `kiln build --precision int8 --calib-cache`:
     INT8 without the guard;
  3. `kiln build --precision int8 --calib DIR --accuracy-budget B --accuracy-report R`: INT8 with the guard (its own
     calibration on the samples it does not hold back; layers int8/total and timings from R);
  4. both INT8 engines against the FP32 engine on the evaluation set: cosine, relative L2, top-1 agreement per output
     and the model's task metric (OCR strings, detection F1/IoU, VAD segments, retrieval, rotation accuracy);
  5. `kiln bench` median latency of the FP32 and INT8 engines (random inputs of the evaluation shapes; a bonus).
Prints one table and writes JSON (--out) and the table (--table). docs/int8.md "Accuracy on pretrained models".

Usage: python3 bench/int8_accuracy.py [--models all|NAME,...] [--threads 1] [--out r.json] [--table r.txt]
       [--work DIR] [--kiln build/bin/kiln] [--kiln-python build/python] [--bench-seconds 1 | 0 to skip]
Needs scripts/setup_bench.sh's packages.
"""
import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from int8_models import CASES  # noqa: E402
from int8_models.common import MissingPackage, output_metrics, write_samples  # noqa: E402
from int8_models.kiln_tools import EngineRunner, KilnCli, KilnError, OrtRunner, import_kiln  # noqa: E402
from int8_models.report import format_table  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="all", help="all or comma-separated names: " + ", ".join(CASES))
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads for Kiln (build, calibration, guard, "
                    "runs) and ONNX Runtime")
    ap.add_argument("--kiln", default=os.path.join(HERE, "..", "build", "bin", "kiln"))
    ap.add_argument("--kiln-python", default=os.path.join(HERE, "..", "build", "python"),
                    help="folder holding Kiln's Python package (runs the engines on the samples)")
    ap.add_argument("--work", default=None, help="keep engines, sample folders, logs and guard reports here "
                    "(default: a temporary folder, removed)")
    ap.add_argument("--bench-seconds", type=float, default=1.0, help="kiln bench duration per engine (0: skip)")
    ap.add_argument("--out", default=None, help="write the results as JSON")
    ap.add_argument("--table", default=None, help="write the printed table to this file")
    args = ap.parse_args()
    if args.threads < 1:
        ap.error(f"--threads must be >= 1, got {args.threads}")
    if args.bench_seconds < 0:
        ap.error(f"--bench-seconds must be >= 0, got {args.bench_seconds}")
    names = list(CASES) if args.models == "all" else [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown or not names:
        ap.error(f"--models: unknown model(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(CASES)}")
    args.names = names
    return args


def run_all(runner, samples):
    return [runner(s) for s in samples]


def guard_summary(report_path):
    """The guard report's facts shown in the table and kept in the JSON."""
    with open(report_path) as f:
        rep = json.load(f)
    after = rep.get("after") or {}
    return {"met": rep["met"], "int8_layers": rep["int8_layers"], "layers_total": rep["layers_total"],
            "fp32_layers": after.get("fp32_layers"), "trials": len(rep["trials"]),
            "held_back": rep["samples"]["held_back"], "calibration_samples": rep["samples"]["calibration"],
            "before": rep["before"]["outputs"], "after": after.get("outputs"), "timings_s": rep["timings_s"]}


def evaluate_case(case, cli, kiln_mod, args, work):
    """Runs steps 1-5 of the module docstring for one case; returns its result record."""
    rec = {"model": case.name, "family": case.family, "task": case.task, "package": case.dist,
           "inputs": case.inputs_from, "budget": case.budget, "budget_why": case.budget_why,
           "task_note": case.task_note, "headline": list(case.headline), "task_headline": case.task_headline}
    model = case.model_path()
    rec["onnx"] = model
    rec["onnx_bytes"] = os.path.getsize(model)
    t0 = time.perf_counter()
    calib, evaluation = case.prepare()
    rec["prepare_s"] = time.perf_counter() - t0
    rec["samples"] = {"calib": len(calib), "eval": len(evaluation)}
    calib_dir = write_samples(os.path.join(work, "calib"), calib)
    outputs, classes = list(case.outputs), tuple(case.class_outputs)

    ort_outs = run_all(OrtRunner(model, args.threads), evaluation)
    fp32_engine = os.path.join(work, "fp32.kiln")
    rec["fp32_build_s"], _ = cli.build(f"{case.name}.build_fp32", model, fp32_engine)
    fp32 = EngineRunner(kiln_mod, fp32_engine, args.threads)
    fp32_outs = run_all(fp32, evaluation)
    rec["fp32_vs_ort"] = output_metrics(fp32_outs, ort_outs, outputs, classes)

    cache = os.path.join(work, "calib.json")
    rec["calibration_s"], _ = cli.run(f"{case.name}.calibrate", ["calibrate", model, "--calib", calib_dir,
                                                                 "-o", cache])
    int8_engine = os.path.join(work, "int8.kiln")
    rec["int8_build_s"], _ = cli.build(f"{case.name}.build_int8", model, int8_engine,
                                       ["--precision", "int8", "--calib", calib_dir, "--calib-cache", cache])
    int8 = EngineRunner(kiln_mod, int8_engine, args.threads)
    int8_outs = run_all(int8, evaluation)
    rec["int8"] = {"outputs": output_metrics(int8_outs, fp32_outs, outputs, classes),
                   "task": case.task_metrics({"fp32": fp32, "int8": int8}, evaluation, fp32_outs, int8_outs)}

    # FP8 (docs/int8.md, "FP8"; on the CPU the same Q/DQ model with float32 GEMMs): the GEMMs only, from the same
    # calibration cache. A model without a MatMul/Gemm that FP8 takes is recorded as such.
    fp8_engine = os.path.join(work, "fp8.kiln")
    try:
        rec["fp8_build_s"], _ = cli.build(f"{case.name}.build_fp8", model, fp8_engine,
                                          ["--precision", "fp8", "--calib-cache", cache])
        fp8 = EngineRunner(kiln_mod, fp8_engine, args.threads)
        fp8_outs = run_all(fp8, evaluation)
        rec["fp8"] = {"outputs": output_metrics(fp8_outs, fp32_outs, outputs, classes),
                      "task": case.task_metrics({"fp32": fp32, "int8": fp8}, evaluation, fp32_outs, fp8_outs)}
    except KilnError as exc:
        rec["fp8_error"] = str(exc).strip().splitlines()[-1]

    guard_engine = os.path.join(work, "guard.kiln")
    report = os.path.join(work, "guard.json")
    try:
        rec["guard_build_s"], _ = cli.build(f"{case.name}.build_guard", model, guard_engine,
                                            ["--precision", "int8", "--calib", calib_dir,
                                             "--accuracy-budget", case.budget, "--accuracy-report", report])
    except KilnError as exc:
        rec["guard_error"] = str(exc)
    if os.path.exists(report):
        rec["guard_report"] = guard_summary(report)
    if "guard_error" not in rec:
        guard = EngineRunner(kiln_mod, guard_engine, args.threads)
        guard_outs = run_all(guard, evaluation)
        rec["guard"] = {"outputs": output_metrics(guard_outs, fp32_outs, outputs, classes),
                        "task": case.task_metrics({"fp32": fp32, "int8": guard}, evaluation, fp32_outs,
                                                  guard_outs)}

    if args.bench_seconds > 0:
        shapes = case.bench_shapes(evaluation)
        rec["bench_shapes"] = shapes
        rec["latency_ms"] = {}
        engines = [("fp32", fp32_engine), ("int8", int8_engine)]
        if "guard" in rec:
            engines.append(("guard", guard_engine))
        for tag, engine in engines:
            try:
                rec["latency_ms"][tag] = cli.bench(f"{case.name}.bench_{tag}", engine, shapes, args.bench_seconds)
            except KilnError as exc:
                rec["latency_ms"][tag] = None
                rec.setdefault("bench_errors", {})[tag] = str(exc)
    return rec


def main():
    args = parse_args()
    kiln_mod = import_kiln(args.kiln_python)
    root = args.work or tempfile.mkdtemp(prefix="kiln_int8acc_")
    os.makedirs(root, exist_ok=True)
    cli = KilnCli(args.kiln, args.threads, root)
    results = []
    start = time.perf_counter()
    for name in args.names:
        case = CASES[name]()
        work = os.path.join(root, name)
        shutil.rmtree(work, ignore_errors=True)     # no stale samples, engines or reports from an earlier run
        os.makedirs(work)
        t0 = time.perf_counter()
        print(f"[{name}] {case.family}: {case.task}", file=sys.stderr, flush=True)
        try:
            rec = evaluate_case(case, cli, kiln_mod, args, work)
        except (KilnError, MissingPackage) as exc:
            rec = {"model": name, "family": case.family, "task": case.task, "error": str(exc),
                   "kiln_failed": isinstance(exc, KilnError)}
        except Exception as exc:  # a bug or a package change in one case must not lose the other models' results
            traceback.print_exc()
            rec = {"model": name, "family": case.family, "task": case.task,
                   "error": f"{type(exc).__name__}: {exc}"}
        rec["wall_s"] = time.perf_counter() - t0
        print(f"[{name}] done in {rec['wall_s']:.1f} s" + (f": ERROR {rec['error']}" if "error" in rec else ""),
              file=sys.stderr, flush=True)
        results.append(rec)
    doc = {"format": "kiln-int8-accuracy", "version": 1, "threads": args.threads,
           "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
           "cpu": _cpu_name(), "kiln": os.path.abspath(args.kiln), "kiln_version": f"{cli.version()} ({_commit()})", "total_s": time.perf_counter() - start,
           "results": results}
    table = format_table(doc)
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=1, default=float)
    if args.table:
        with open(args.table, "w") as f:
            f.write(table + "\n")
    if not args.work:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if any("error" in r for r in results) else 0


def _commit():
    """The checkout's commit (and '+changes' when the work tree differs), for the record of what was measured."""
    import subprocess
    try:
        head = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", HERE, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return f"commit {head}" + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "commit unknown"


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
