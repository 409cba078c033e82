"""One GPU run of bench/zoo_gpu.py over a plan (a group or chosen rows), in three phases, under a time budget.

A. exports: `export_jobs` export_worker children beside torch_worker preparations (one at a time, in plan order,
   as each model's weights appear: FP32 references, first torch.compile calls; nothing is timed).
B. Kiln builds, one after another, after every export has ended (build times are wall-clock, not shared).
C. per model: `kiln run` + check and `kiln bench` for every row, batch and precision, then the model's PyTorch
   timings (the torch_worker's "measure"); nothing else runs meanwhile. Rows are printed as each model ends.
A model is admitted (phase A) only when its estimate and those of the models already admitted fit in what is
left of --budget-s; builds and measurements that no longer fit are skipped with "skipped: time budget".
"""
import copy
import json
import os
import time

import numpy as np

import gpu_compare as gc
from zoo import inputs, registry, report
from zoo.children import Child

REL_L2_PASS = gc.REL_L2_PASS  # FP16 vs PyTorch FP32, as bench/gpu_compare.py


def log(msg):
    print(f"[zoo_gpu {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Budget:
    """The run's time budget: seconds left, and child timeouts that end before it does."""

    def __init__(self, seconds):
        self.end = time.perf_counter() + seconds

    def left(self):
        return self.end - time.perf_counter()

    def timeout(self, limit):
        return max(1.0, min(limit, self.left()))


def batches_of(args, model):
    out = []
    for b in args.batches:
        v = model.tput if b == "tput" else int(b)
        if v not in out:
            out.append(v)
    return out


def precisions_of(args):
    return [args.precision] + (["bf16"] if args.bf16 and args.precision != "bf16" else [])


def check_limit(rec, precision):
    """FP16 (and FP32/TF32): gpu_compare's REL_L2_PASS, unless PyTorch's own FP16 run of the same inputs is further
    than that from FP32 (a random-weight model that FP16 cannot represent well: RetinaNet's box deltas, DeepLabV3's
    logits): then 1.5x PyTorch FP16's error, so Kiln must still be about as close as PyTorch FP16 is. BF16 keeps 8
    mantissa bits to FP16's 11: twice PyTorch BF16's own error on the same inputs, and at least REL_L2_PASS (8x
    REL_L2_PASS when that is unknown)."""
    if precision != "bf16":
        t = (rec.get("torch_vs_fp32") or {}).get("rel_l2")
        return max(REL_L2_PASS, 1.5 * t) if t is not None else REL_L2_PASS
    t = (rec.get("torch_bf16_vs_fp32") or {}).get("rel_l2")
    return max(REL_L2_PASS, 2.0 * t) if t is not None else 8 * REL_L2_PASS


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class Run:
    """One run: the plan, one record per (row, batch), per-model state (exports, PyTorch worker), the JSON."""

    def __init__(self, args, plan, info):
        self.args, self.plan, self.info, self.t0 = args, plan, info, time.perf_counter()
        self.budget = Budget(args.budget_s)
        self.records = [dict(report.new_record(m, e, registry.row_name(m, e), b), notes=[])
                        for m, exps in plan for e in exps for b in batches_of(args, m)]
        self.models = {m.name: {"exports": None, "worker": None, "ready": None, "admitted": False}
                       for m, _ in plan}
        self.phases = {}

    def recs(self, model, exporter=None, batch=None):
        return [r for r in self.records if r["model"] == model.name and exporter in (None, r["exporter"])
                and batch in (None, r["batch"])]

    def skip(self, model, why="skipped: time budget"):
        for r in self.recs(model):
            if r["status"] == "pending":
                report.fail(r, why, status="skipped")

    def save(self):
        precisions = precisions_of(self.args)
        report.save(self.args.out, {
            "env": self.info, "args": {k: v for k, v in vars(self.args).items() if k != "plan"},
            "plan": [{"model": m.name, "rows": [registry.row_name(m, e) for e in exps],
                      "estimate_s": round(sum(registry.model_estimate(m, exps)))} for m, exps in self.plan],
            "estimate_s": round(registry.plan_estimate(self.plan, self.args.export_jobs)), "phases_s": self.phases,
            "records": self.records, "table": report.table(self.records, precisions),
            "summary": report.summary(self.records, precisions), "total_s": time.perf_counter() - self.t0})

    def stop_children(self):
        for st in self.models.values():
            if st["worker"] is not None:
                st["worker"].stop()


# ---------------------------------------------------------------- phase A


def export_argv(args, model, exps, batches, threads):
    argv = ["--model", model.name, "--workdir", args.tmp, "--exporters", ",".join(exps),
            "--batches", ",".join(map(str, batches)), "--threads", str(threads), "--export-attn", args.export_attn,
            "--legacy-opset", str(args.legacy_opset), "--dynamo-opset", str(args.dynamo_opset)]
    return argv + (["--calib", args.calib] if args.calib else [])


def torch_argv(args, model):
    argv = ["--model", model.name, "--workdir", args.tmp, "--batches", ",".join(map(str, batches_of(args, model))),
            "--duration", str(args.duration), "--windows", str(args.windows), "--torch-attn", args.torch_attn,
            "--mode-latency", args.compile_mode_latency, "--mode-throughput", args.compile_mode_throughput]
    if args.bf16:
        argv.append("--bf16")
    if args.kiln_only or "none" in (args.compile_mode_latency, args.compile_mode_throughput):
        argv.append("--no-compile")
    if args.kiln_only:
        argv.append("--no-eager")
    return argv


def read_export(args, model):
    return read_json(os.path.join(args.tmp, f"{model.name}.export.json"))


def still_needed(run, model, exps):
    """GPU seconds an admitted model still needs: its preparation unless done, its builds and measurements."""
    serial = registry.model_estimate(model, exps)[1]
    return serial - (model.est.prepare if run.models[model.name]["ready"] is not None else 0.0)


def reap_exports(run, exporting):
    for name, ch in list(exporting.items()):
        model = registry.BY_NAME[name]
        if ch.running() and ch.age() <= run.args.export_timeout and run.budget.left() > 5:
            continue
        timed_out = ch.running()
        ch.stop()
        got = read_export(run.args, model) or {}
        if timed_out:
            got["timeout"] = f"export timed out after {ch.age():.0f} s"
        elif not got.get("done") and not got.get("error"):
            got["error"] = f"export worker: {ch.reason()}"
        run.models[name]["exports"] = got
        log(f"{name}: export {'stopped' if timed_out else 'finished'} after {ch.age():.0f} s")
        del exporting[name]


def poll_prepare(run, current):
    """Checks the model being prepared; returns None once it is ready (or failed), else `current`."""
    m, ch = current
    ev = ch.next_event(0.0)
    if ev is None and ch.running() and ch.age() <= run.args.prepare_timeout and run.budget.left() > 5:
        return current
    if ev is None:
        ev = {"fatal": (f"PyTorch worker: {ch.reason()}" if not ch.running()
                        else f"PyTorch preparation stopped after {ch.age():.0f} s")}
        ch.stop()
    run.models[m.name]["ready"] = ev
    log(f"{m.name}: PyTorch " + (f"ready ({ch.age():.0f} s)" if "fatal" not in ev else f"failed: {ev['fatal']}"))
    return None


def admit_next(run, waiting, exporting):
    """Starts the preparation of the first waiting model once its weights exist (or drops it when its export
    ended without them, or when it does not fit the budget). Returns (model, child) or None."""
    m, exps = waiting[0]
    st, ex = run.models[m.name], read_export(run.args, m)
    if ex and ex.get("state") and os.path.exists(ex["state"]):
        waiting.pop(0)
        committed = sum(still_needed(run, x, e) for x, e in run.plan if run.models[x.name]["admitted"])
        need = committed + still_needed(run, m, exps)
        if run.budget.left() < need:
            log(f"{m.name}: skipped: {need:.0f} s of GPU work estimated with it, {run.budget.left():.0f} s left")
            run.skip(m)
            if m.name in exporting:
                exporting.pop(m.name).stop()
            return None
        st["admitted"] = True
        log(f"{m.name}: PyTorch preparation started")
        st["worker"] = Child("torch_worker", torch_argv(run.args, m), os.path.join(run.args.tmp, f"{m.name}.torch.log"),
                             stdin=True)
        return m, st["worker"]
    if st["exports"] is not None or (ex and ex.get("error")):  # the export ended without weights
        waiting.pop(0)
        got = st["exports"] or ex or {}
        why = got.get("error") or got.get("timeout") or "export: no weights written"
        for r in run.recs(m):
            report.fail(r, why)
    return None


def phase_prepare(run):
    args = run.args
    threads = max(1, (len(os.sched_getaffinity(0)) - 2) // max(1, args.export_jobs))
    to_export, exporting, waiting, current = list(run.plan), {}, list(run.plan), None
    while to_export or exporting or waiting or current:
        while to_export and len(exporting) < args.export_jobs:
            m, exps = to_export.pop(0)
            if any(r["status"] == "pending" for r in run.recs(m)):
                log(f"{m.name}: export ({', '.join(exps)}) started")
                exporting[m.name] = Child("export_worker", export_argv(args, m, exps, batches_of(args, m), threads),
                                          os.path.join(args.tmp, f"{m.name}.export.log"))
        reap_exports(run, exporting)
        if current is not None:
            current = poll_prepare(run, current)
        if current is None and waiting:
            current = admit_next(run, waiting, exporting)
        time.sleep(0.2)


# ---------------------------------------------------------------- phase B


def kiln_args(args, precision, budget, limit):
    """gpu_compare's kiln_* helpers read their settings from an args object: a copy with this build's values."""
    k = copy.copy(args)
    k.precision, k.build_timeout = precision, budget.timeout(limit)
    return k


def note_export(r, ex):
    r["export"] = {k: v for k, v in ex.items() if k != "traceback"}
    if ex.get("note"):
        r["notes"].append(ex["note"])
    ort = ex.get("ort") or {}
    if ort and not ort.get("ok"):
        what = ort.get("error") or f"rel L2 {ort.get('rel_l2', float('nan')):.3g} at batch {ort.get('batch')}"
        r["notes"].append(f"ONNX Runtime disagrees with PyTorch FP32: {what}")


def build_row(run, m, r, path, feeds, precision, reserve):
    args = run.args
    if run.budget.left() < m.est.build / 2 + reserve:
        r["kiln"][precision] = {"skipped": "time budget"}
        report.fail(r, f"kiln build {precision}: skipped: time budget", status="skipped")
        return
    engine = os.path.join(args.tmp, f"{m.name}.{r['exporter']}.b{r['batch']}.{precision}.kiln")
    log(f"{r['row']} b{r['batch']}: kiln build {precision} ...")
    try:
        b = gc.kiln_build(kiln_args(args, precision, run.budget, args.build_timeout), m.name, path, engine, feeds)
        r["kiln"][precision] = {"engine": engine, "build_s": b["build_s"], "summary": b["summary"]}
        log(f"{r['row']} b{r['batch']}: built in {b['build_s']:.1f} s: {b['summary']}")
    except Exception as err:  # noqa: BLE001 -- the row records the reason
        r["kiln"][precision] = {"error": gc.one_line(err)}
        report.fail(r, f"kiln build {precision}: {gc.one_line(err)}")


def phase_build(run):
    args = run.args
    reserve = sum(m.est.measure for m, _ in run.plan if run.models[m.name]["admitted"])
    for m, exps in run.plan:
        st = run.models[m.name]
        if not st["admitted"]:
            continue
        for e in exps:
            ex = (st["exports"] or {}).get("exporters", {}).get(e) or {}
            files = ex.get("files") or {}
            for r in run.recs(m, e):
                note_export(r, ex)
                path = files.get("*") or files.get(str(r["batch"]))
                if ex.get("error") or not path:
                    report.fail(r, ex.get("error") or (st["exports"] or {}).get("timeout") or f"{e} export: no file")
                    continue
                feeds = inputs.load_inputs(args.tmp, m, r["batch"])
                for p in precisions_of(args):
                    build_row(run, m, r, path, feeds, p, reserve)
                run.save()
        reserve -= m.est.measure


# ---------------------------------------------------------------- phase C


def fill_prepare(r, ready):
    """PyTorch-side facts from the preparation: its own FP16/BF16 errors, compile first-call time, failures."""
    if "fatal" in ready:
        r["notes"].append(f"PyTorch: {ready['fatal']}")
        return
    b = (ready.get("info") or {}).get("batches", {}).get(str(r["batch"]), {})
    r["torch_prepare_s"] = ready.get("seconds")  # the model's whole preparation (both batches)
    r["torch_vs_fp32"], r["torch_bf16_vs_fp32"] = b.get("torch_fp16_vs_fp32"), b.get("torch_bf16_vs_fp32")
    r["compile_first_call_s"], r["compile"] = b.get("compile_first_call_s"), {"mode": b.get("compile_mode")}
    att = (ready.get("info") or {}).get("attention")
    if att and att != "sdpa":
        r["notes"].append(f"PyTorch attention: {att}")
    for step, why in (ready.get("errors") or {}).items():
        if not step.startswith("b") or step.startswith(f"b{r['batch']}:"):
            r["notes"].append(f"PyTorch {step}: {why}")


def check_and_bench(run, m, r, precision):
    args, k = run.args, r["kiln"].get(precision) or {}
    if "engine" not in k:
        return
    kargs = kiln_args(args, precision, run.budget, args.build_timeout)
    tag = f"{m.name}.{r['exporter']}.b{r['batch']}.{precision}"
    refs = [inputs.ref_path(args.tmp, m, r["batch"], i) for i in range(len(m.outputs))]
    feeds = inputs.load_inputs(args.tmp, m, r["batch"])
    try:
        outs = gc.kiln_run(kargs, k["engine"], feeds, list(m.outputs), tag)
        if not all(os.path.exists(p) for p in refs):
            k["pass"] = False
            report.fail(r, f"{precision}: output unchecked: no PyTorch FP32 reference")
        else:
            errs = [gc.rel_errors(o, np.load(p)) for o, p in zip(outs, refs)]
            worst = max(errs, key=lambda e: (not e["finite"], e["rel_l2"]))
            limit = check_limit(r, precision)
            k["vs_fp32"], k["limit"] = worst, limit
            k["pass"] = bool(worst["finite"] and worst["rel_l2"] < limit)
            if not k["pass"]:
                what = "non-finite values" if not worst["finite"] else f"rel L2 {worst['rel_l2']:.3g} > {limit:.3g}"
                report.fail(r, f"wrong output {precision}: {what} (max abs {worst['max_abs']:.3g})")
    except Exception as err:  # noqa: BLE001
        k["pass"] = False
        report.fail(r, f"kiln run {precision}: {gc.one_line(err)}")
    thr = r["kind"] == "throughput"
    try:
        j = gc.kiln_bench(kargs, k["engine"], os.path.join(args.tmp, tag + ".bench.json"), False, 1,
                          args.kiln_back_to_back if thr else 1)
        j.pop("layers", None)
        k["bench"], k["value"] = j, (j["throughput_inferences_per_s"] if thr else j["latency_ms"]["median"])
    except Exception as err:  # noqa: BLE001
        report.fail(r, f"kiln bench {precision}: {gc.one_line(err)}")
    if args.profile:
        try:
            p = gc.kiln_bench(kargs, k["engine"], os.path.join(args.tmp, tag + ".profile.json"), True)
            rows, total = gc.top_layers(p.get("layers", []))
            k["profile"] = {"total_ms": total, "nodes": len(p.get("layers", [])), "top": rows}
        except Exception as err:  # noqa: BLE001
            r["notes"].append(f"kiln bench --profile {precision}: {gc.one_line(err)}")


def torch_measure(run, m):
    """Sends "measure" to the model's PyTorch worker and fills eager/compile into its records."""
    st = run.models[m.name]
    ch, ready = st["worker"], st["ready"] or {}
    if ch is None or "fatal" in ready:
        return
    log(f"{m.name}: PyTorch timings ...")
    ch.send("measure")
    deadline = time.perf_counter() + run.budget.timeout(run.args.prepare_timeout)
    ev = None
    while ev is None and time.perf_counter() < deadline and (ch.running() or not ch.events.empty()):
        ev = ch.next_event(min(1.0, deadline - time.perf_counter()))
    if ev is None or ev.get("event") != "result":
        why = ch.reason() if not ch.running() else "PyTorch timings did not finish in the time budget"
        for r in run.recs(m):
            r["notes"].append(f"PyTorch timings: {why}")
        return
    for r in run.recs(m):
        r["torch_measure_s"] = ev.get("seconds")  # the model's PyTorch timings (both batches)
        got = (ev.get("batches") or {}).get(str(r["batch"]), {})
        r["eager"] = got.get("eager") or {}
        r["compile"] = dict(got.get("compile") or {}, mode=r["compile"].get("mode"),
                            first_call_s=r.get("compile_first_call_s"))
        for step, why in (ev.get("errors") or {}).items():
            if step.startswith(f"b{r['batch']}:"):
                r["notes"].append(f"PyTorch {step}: {why}")


def phase_measure(run, print_rows):
    for m, exps in run.plan:
        st = run.models[m.name]
        if not st["admitted"]:
            run.skip(m, "not run")  # rows still pending here were neither failed nor skipped before: say so
        elif run.budget.left() < m.est.measure * 0.75:
            run.skip(m)
        else:
            for r in run.recs(m):
                fill_prepare(r, st["ready"] or {"fatal": "not prepared"})
            for r in run.recs(m):
                for p in precisions_of(run.args):
                    if "engine" in (r["kiln"].get(p) or {}):
                        log(f"{r['row']} b{r['batch']}: kiln run + bench {p} ...")
                        check_and_bench(run, m, r, p)
            torch_measure(run, m)
        if st["worker"] is not None:
            st["worker"].send("quit")
            st["worker"].stop()
        for r in run.recs(m):
            if r["status"] == "pending":
                r["status"] = "ok"
            r["reasons"] += [f"note: {n}" for n in r.pop("notes", [])]
        print_rows(run.recs(m))
        run.save()


def run_plan(run, print_rows):
    """Phases A, B, C; returns the records. Children are stopped whatever happens."""
    try:
        for name, fn in (("prepare", phase_prepare), ("build", phase_build),
                         ("measure", lambda r: phase_measure(r, print_rows))):
            t = time.perf_counter()
            log(f"phase {name} ({run.budget.left():.0f} s of the budget left)")
            fn(run)
            run.phases[name] = round(time.perf_counter() - t, 1)
            run.save()
    finally:
        run.stop_children()
    return run.records
