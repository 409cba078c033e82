"""bench/zoo_gpu.py --cpu-smoke: every chosen row exported at batch 1 and run by Kiln on the CPU, vs PyTorch FP32.

No GPU, no timing: finds export and operator problems before GPU time is spent. Per model one export_worker child
(weights, ONNX exports, ONNX Runtime check, PyTorch FP32 references on the CPU at batch 1); per row
`kiln build --device cpu --precision fp32` at batch 1 and `kiln run`, compared with the reference (rel L2 <
SMOKE_REL_L2). One model at a time.
"""
import os
import time

import numpy as np

import gpu_compare as gc
from zoo import inputs, registry, report
from zoo.children import Child
from zoo.gpu_run import export_argv, log, read_export

SMOKE_REL_L2 = 1e-3  # Kiln FP32 on the CPU vs PyTorch FP32 on the CPU (as the ONNX Runtime check)


def smoke_row(args, m, e, ex, rec):
    exp = ((ex or {}).get("exporters") or {}).get(e) or {}
    rec["export"] = {k: v for k, v in exp.items() if k != "traceback"}
    files = exp.get("files") or {}
    path = files.get("*") or files.get("1")
    if exp.get("note"):
        rec["reasons"].append("note: " + exp["note"])
    ort = exp.get("ort") or {}
    if ort and not ort.get("ok"):
        what = ort.get("error") or f"rel L2 {ort.get('rel_l2', float('nan')):.3g}"
        rec["reasons"].append(f"note: ONNX Runtime vs PyTorch FP32: {what}")
    if not path:
        why = (exp.get("error") or (ex or {}).get("error") or (ex or {}).get("timeout")
               or f"{e} export: no file")
        return report.fail(rec, why)
    feeds = inputs.load_inputs(args.tmp, m, 1)
    shapes = ",".join(f"{k}:{'x'.join(map(str, v.shape))}" for k, v in feeds.items())
    engine = os.path.join(args.tmp, f"{m.name}.{e}.b1.cpu.kiln")
    try:
        _, rec["kiln_build_s"] = gc.sh([args.kiln, "build", path, "--device", "cpu", "--precision", "fp32",
                                        "--shapes", shapes, "-o", engine], args.build_timeout)
    except Exception as err:  # noqa: BLE001
        return report.fail(rec, f"kiln build --device cpu: {gc.one_line(err)}")
    refs = [inputs.ref_path(args.tmp, m, 1, i) for i in range(len(m.outputs))]
    if not all(os.path.exists(p) for p in refs):
        return report.fail(rec, (ex or {}).get("refs_error") or "no PyTorch FP32 reference")
    try:
        t = time.perf_counter()
        outs = gc.kiln_run(args, engine, feeds, list(m.outputs), f"{m.name}.{e}.b1.cpu")
        rec["kiln_run_s"] = time.perf_counter() - t
    except Exception as err:  # noqa: BLE001
        return report.fail(rec, f"kiln run --device cpu: {gc.one_line(err)}")
    errs = [gc.rel_errors(o, np.load(p)) for o, p in zip(outs, refs)]
    worst = max(errs, key=lambda x: (not x["finite"], x["rel_l2"]))
    rec["kiln"]["fp32"] = {"vs_fp32": worst, "pass": bool(worst["finite"] and worst["rel_l2"] < SMOKE_REL_L2)}
    if not rec["kiln"]["fp32"]["pass"]:
        what = "non-finite values" if not worst["finite"] else f"rel L2 {worst['rel_l2']:.3g} > {SMOKE_REL_L2:g}"
        return report.fail(rec, f"wrong output: {what} (max abs {worst['max_abs']:.3g})")
    rec["status"] = "ok"


def run_smoke(args, plan, print_row, save):
    records = []
    for m, exps in plan:
        inputs.write_inputs(args.tmp, m, 1)
        log(f"{m.name}: export ({', '.join(exps)}) on the CPU ...")
        argv = export_argv(args, m, exps, [1], args.smoke_threads) + ["--refs"]
        if not args.calib:
            argv += ["--calib", "2x2"]  # BatchNorm statistics only need to be plausible for an FP32 check
        ch = Child("export_worker", argv, os.path.join(args.tmp, f"{m.name}.export.log"))
        while ch.running() and ch.age() < args.export_timeout:
            time.sleep(0.5)
        timed_out = ch.running()
        ch.stop()
        ex = read_export(args, m) or {"error": f"export worker: {ch.reason()}"}
        if timed_out:
            ex["timeout"] = f"export timed out after {ch.age():.0f} s"
        elif not ex.get("done") and not ex.get("error"):
            ex["error"] = f"export worker: {ch.reason()}"
        log(f"{m.name}: export ended after {ch.age():.0f} s")
        for e in exps:
            rec = report.new_record(m, e, registry.row_name(m, e), 1)
            smoke_row(args, m, e, ex, rec)
            records.append(rec)
            print_row(rec)
            save(records)
    return records
