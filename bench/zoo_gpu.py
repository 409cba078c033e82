#!/usr/bin/env python3
"""Kiln vs PyTorch eager vs torch.compile on a zoo of 26 models (38 rows) on one GPU, one group per run (issue 15).

Per model: FP32 ONNX exports (TorchScript exporter; transformer models also the dynamo exporter, as separate rows
"NAME[dynamo]"), Kiln FP16 engines at batch 1 and the model's throughput batch (`kiln bench --no-transfers
--cuda-graph`; throughput rows with --back-to-back), PyTorch eager FP16 (channels_last CNNs, SDPA attention) and
torch.compile (default for the throughput batch, reduce-overhead for batch 1), Kiln's outputs checked against
PyTorch FP32 with bench/gpu_compare.py's rule, a table with ratios and geo-means, and JSON (--out, rewritten after
every step). Exports run in child processes beside the PyTorch preparation; nothing is timed while an export or
a build runs. Failures are rows with a one-line reason; what does not fit --budget-s is "skipped: time budget".

  python3 bench/zoo_gpu.py --list                                    # models, groups, estimates (no torch)
  python3 bench/zoo_gpu.py --kiln dist/bin/kiln --group cnn-resnet    # one group: one device call
  python3 bench/zoo_gpu.py --kiln build/bin/kiln --cpu-smoke --models bert-base   # CPU export + kiln run check
Method, groups and results: docs/benchmarks-zoo.md.
"""
import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gpu_compare as gc  # noqa: E402
from zoo import inputs, registry, report  # noqa: E402
from zoo.gpu_run import Run, log, precisions_of, run_plan  # noqa: E402


def list_zoo(export_jobs):
    """The models by group with inputs, batches, exporters and time estimates (seconds on one H200)."""
    total = 0.0
    for g in registry.GROUPS:
        plan = registry.select(group=g)
        est = registry.plan_estimate(plan, export_jobs)
        total += est
        rows = sum(len(e) for _, e in plan)
        print(f"group {g}: {len(plan)} models, {rows} rows, estimate {est:.0f} s ({est / 60:.1f} min)")
        for m, exps in plan:
            shapes = " ".join(f"{i.name}[{','.join(map(str, i.shape))}]" for i in m.inputs)
            print(f"  {m.name:22s} {m.family:18s} b1,b{m.tput:<4d} {'+'.join(exps):14s} "
                  f"~{sum(registry.model_estimate(m, exps)):4.0f} s  {shapes}" + (f"  ({m.note})" if m.note else ""))
    n_rows = len(registry.all_rows())
    print(f"{len(registry.MODELS)} models, {n_rows} rows ({n_rows * 2} table lines: batch 1 and the throughput "
          f"batch), {len(registry.GROUPS)} groups, estimate {total / 60:.0f} min in all")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog="docs/benchmarks-zoo.md")
    ap.add_argument("--kiln", default="build/bin/kiln", help="path of the kiln binary")
    ap.add_argument("--list", action="store_true", help="print the models, groups and estimates; needs no torch")
    ap.add_argument("--group", default="", help="a group name (see --list), a comma list of them, or all")
    ap.add_argument("--models", default="", help="comma list of rows (bert-base[dynamo]) or models (all rows)")
    ap.add_argument("--batches", default="1,tput", help="comma list of 1, tput (the model's throughput batch), N")
    ap.add_argument("--budget-s", type=float, default=540.0, help="time budget of the run, seconds")
    ap.add_argument("--duration", type=float, default=2.0, help="seconds each measurement runs")
    ap.add_argument("--windows", type=int, default=3, help="PyTorch throughput: CUDA-event windows (median)")
    ap.add_argument("--precision", default="fp16", choices=["fp16", "bf16", "tf32", "fp32"],
                    help="Kiln build precision")
    ap.add_argument("--bf16", action="store_true", help="also build, check and time Kiln BF16 engines")
    ap.add_argument("--timing-cache", default="", help="passed to kiln build --timing-cache")
    ap.add_argument("--kiln-back-to-back", type=int, default=10, help="kiln bench --back-to-back (throughput rows)")
    ap.add_argument("--kiln-build-args", default="", help="extra kiln build flags (one shell-quoted string)")
    ap.add_argument("--kiln-bench-args", default="", help="extra kiln bench flags (one shell-quoted string)")
    modes = ["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs", "none"]
    ap.add_argument("--compile-mode-throughput", default="default", choices=modes)
    ap.add_argument("--compile-mode-latency", default="reduce-overhead", choices=modes)
    ap.add_argument("--kiln-only", action="store_true", help="no PyTorch timings (FP32 references still made)")
    ap.add_argument("--profile", action="store_true", help="also kiln bench --profile: top 10 layers per row")
    ap.add_argument("--export-attn", default="eager", help="transformers attention for the ONNX exports")
    ap.add_argument("--torch-attn", default="sdpa", help="transformers attention for the PyTorch baselines")
    ap.add_argument("--legacy-opset", type=int, default=17)
    ap.add_argument("--dynamo-opset", type=int, default=18)
    ap.add_argument("--calib", default="", help="BatchNorm re-estimation BATCHESxIMAGES for every model")
    ap.add_argument("--export-jobs", type=int, default=registry.EXPORT_JOBS, help="export processes at once")
    ap.add_argument("--export-timeout", type=float, default=360.0, help="seconds allowed per model's exports")
    ap.add_argument("--prepare-timeout", type=float, default=360.0,
                    help="seconds allowed for a model's PyTorch preparation, and for its timings")
    ap.add_argument("--build-timeout", type=float, default=300.0, help="seconds allowed per kiln build/run")
    ap.add_argument("--cpu-smoke", action="store_true",
                    help="no GPU: export at batch 1, kiln build/run --device cpu, compare with PyTorch FP32")
    ap.add_argument("--smoke-threads", type=int, default=2, help="--cpu-smoke: torch threads of the export")
    ap.add_argument("--workdir", default="", help="where inputs, ONNX files and engines go (default: a temp dir)")
    ap.add_argument("--out", default="", help="JSON results (default zoo_gpu.json, zoo_smoke.json with --cpu-smoke)")
    a = ap.parse_args(argv)
    if a.list:
        return a
    if not a.group and not a.models:
        ap.error("choose --group NAME (see --list) or --models a,b")
    try:
        a.plan = registry.select(a.group, a.models)
    except KeyError as e:
        ap.error(str(e).strip("'\""))
    a.batches = [b.strip() for b in a.batches.split(",") if b.strip()]
    if not a.batches or any(b != "tput" and not b.isdigit() for b in a.batches):
        ap.error("--batches: a comma list of 1, tput or positive integers")
    if a.duration <= 0 or a.windows < 1 or a.export_jobs < 1 or a.budget_s <= 0:
        ap.error("--duration and --budget-s must be > 0, --windows and --export-jobs >= 1")
    if a.calib and (len(a.calib.split("x")) != 2 or not all(x.isdigit() for x in a.calib.split("x"))):
        ap.error("--calib: BATCHESxIMAGES, e.g. 4x16")
    a.out = a.out or ("zoo_smoke.json" if a.cpu_smoke else "zoo_gpu.json")
    return a


def print_plan(args):
    est = registry.plan_estimate(args.plan, args.export_jobs)
    rows = sum(len(e) for _, e in args.plan)
    log(f"plan: {len(args.plan)} models, {rows} rows, batches {','.join(args.batches)}; estimate {est:.0f} s "
        f"on one H200 (budget {args.budget_s:.0f} s)")
    for m, exps in args.plan:
        log(f"  {m.name}: {'+'.join(exps)}, ~{sum(registry.model_estimate(m, exps)):.0f} s")


def main(argv=None):
    args = parse_args(argv)
    if args.list:
        list_zoo(args.export_jobs)
        return 0
    if not os.path.exists(args.kiln):
        print(f"zoo_gpu: error: kiln binary '{args.kiln}' not found (--kiln)", file=sys.stderr)
        return 2
    args.kiln = os.path.abspath(args.kiln)
    args.out = os.path.abspath(args.out)
    args.tmp = os.path.abspath(args.workdir or tempfile.mkdtemp(prefix="kiln_zoo_"))
    os.makedirs(args.tmp, exist_ok=True)
    info = gc.env_info(args)
    log(f"environment: {info}; workdir {args.tmp}")
    if args.cpu_smoke:
        return smoke_main(args, info)
    print_plan(args)
    precisions = precisions_of(args)
    run = Run(args, args.plan, info)
    for m, _ in args.plan:
        for b in sorted({r["batch"] for r in run.recs(m)}):
            inputs.write_inputs(args.tmp, m, b)
    header = report.table([], precisions)

    def print_rows(recs):
        print("\n".join(header + report.table(recs, precisions)[2:]), flush=True)

    run_plan(run, print_rows)
    print("\n" + "\n".join(report.table(run.records, precisions)), flush=True)
    summary = report.summary(run.records, precisions)
    print("\n".join(report.summary_lines(summary)), flush=True)
    for line in summary["failed"]:
        print(f"FAILED {line}", flush=True)
    run.save()
    log(f"wrote {args.out}; total {time.perf_counter() - run.t0:.0f} s (estimate "
        f"{registry.plan_estimate(args.plan, args.export_jobs):.0f} s; phases {run.phases})")
    return 1 if summary["failed"] or summary["skipped"] else 0


def smoke_main(args, info):
    from zoo.smoke import run_smoke
    t0 = time.perf_counter()
    print("| row | export s | ONNX Runtime rel L2 | kiln build s | Kiln CPU rel L2 | result |\n|---|---|---|---|---|---|",
          flush=True)

    def print_row(r):
        ex, k = r.get("export") or {}, (r["kiln"].get("fp32") or {}).get("vs_fp32") or {}
        ort = (ex.get("ort") or {}).get("rel_l2")
        cells = [r["row"], f"{ex['seconds']:.0f}" if "seconds" in ex else "-", "-" if ort is None else f"{ort:.2g}",
                 f"{r['kiln_build_s']:.1f}" if "kiln_build_s" in r else "-",
                 f"{k['rel_l2']:.2g}" if "rel_l2" in k else "-",
                 ("PASS" if r["status"] == "ok" else r["status"]) + (f": {'; '.join(r['reasons'])}" if r["reasons"]
                                                                     else "")]
        print("| " + " | ".join(cells) + " |", flush=True)

    def save(records):
        report.save(args.out, {"env": info, "args": dict(vars(args), plan=None), "records": records,
                               "total_s": time.perf_counter() - t0})

    records = run_smoke(args, args.plan, print_row, save)
    bad = [r for r in records if r["status"] != "ok"]
    log(f"cpu smoke: {len(records) - len(bad)} of {len(records)} rows pass; wrote {args.out}; "
        f"{time.perf_counter() - t0:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
