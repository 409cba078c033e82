"""Export worker (a child process of bench/zoo_gpu.py): one zoo model to FP32 ONNX with each chosen exporter.

python3 -m zoo.export_worker --model NAME --workdir DIR [--exporters legacy,dynamo] [--batches 1,64] [--threads N]
Writes DIR/NAME.pt (the state dict every other process loads, so all of them run the same weights) as soon as the
weights are ready, then DIR/NAME.<exporter>.onnx per exporter (dynamic batch axis; where the dynamo exporter
cannot keep the batch dynamic, one static file per batch, DIR/NAME.<exporter>.b<B>.onnx), each checked with ONNX
Runtime (CPU) against PyTorch FP32 at another batch. Progress and results go to DIR/NAME.export.json (rewritten
after every step): {"state": path, "exporters": {exporter: {"files": {"*" or batch: path}, "seconds", "mb",
"opset", "ops", "ort", "error", "note"}}}. Exit status 0 even when an exporter fails (the JSON says why).
"""
import argparse
import json
import os
import sys
import time
import traceback
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import gpu_compare  # noqa: E402
from zoo import inputs, registry, weights  # noqa: E402

ORT_PASS = 1e-3  # the ONNX Runtime check's rel L2 limit (as gpu_compare's ort_check)


def write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, default=str)
    os.replace(tmp, path)


def dynamic_batch(module, n):
    """dynamo's dynamic_shapes for `n` positional inputs with a dynamic axis 0, shaped like forward's signature
    (a forward(*args) takes them as one tuple)."""
    import inspect
    import torch
    per_arg = tuple({0: torch.export.Dim("batch", min=1, max=4096)} for _ in range(n))
    params = inspect.signature(module.forward).parameters.values()
    return (per_arg,) if any(p.kind == p.VAR_POSITIONAL for p in params) else per_arg


def first_line(err):
    """The exception's first non-empty message line (torch.export puts the reason first, advice after)."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return f"{type(err).__name__}: {lines[0] if lines else ''}"[:300]


def export_file(module, model, path, exporter, batch, dynamic, opset):
    """One ONNX file from `module` traced at `batch` (dynamic batch axis when `dynamic`)."""
    import torch
    feeds = inputs.trace_inputs(model, batch)
    args = tuple(torch.from_numpy(v) for v in feeds.values())
    names_in, names_out = list(feeds), list(model.outputs)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings by the hundred; a real problem raises
        if exporter == "legacy":
            dyn = {n: {0: "batch"} for n in names_in + names_out} if dynamic else None
            torch.onnx.export(module, args, path, dynamo=False, opset_version=opset, do_constant_folding=True,
                              input_names=names_in, output_names=names_out, dynamic_axes=dyn)
        else:
            shapes = dynamic_batch(module, len(args)) if dynamic else None
            torch.onnx.export(module, args, path, dynamo=True, opset_version=opset, input_names=names_in,
                              output_names=names_out, dynamic_shapes=shapes, external_data=False)
    if not os.path.exists(path):
        raise RuntimeError(f"the exporter wrote no file at {path}")


def ort_check(module, model, path, batch, threads):
    """rel L2 of ONNX Runtime (CPU, `threads` threads) vs PyTorch FP32 on the zoo inputs at `batch`, worst output."""
    import onnxruntime as ort
    import torch
    feeds = inputs.make_inputs(model, batch, seed=3)
    opts = ort.SessionOptions()
    if threads > 0:
        opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    got = sess.run(None, {i.name: feeds[i.name] for i in sess.get_inputs()})
    with torch.no_grad():
        ref = weights.outputs_as_list(module(*[torch.from_numpy(v) for v in feeds.values()]))
    if len(got) != len(ref):
        raise ValueError(f"ONNX file has {len(got)} outputs, PyTorch {len(ref)}")
    errs = [gpu_compare.rel_errors(g, r) for g, r in zip(got, ref)]
    worst = max(errs, key=lambda e: e["rel_l2"])
    return dict(worst, batch=batch, ok=bool(worst["finite"] and worst["rel_l2"] < ORT_PASS))


def write_refs(module, model, args):
    """PyTorch FP32 outputs on the CPU for the input files of every batch (inputs.ref_path)."""
    import torch
    for b in args.batches:
        feeds = inputs.load_inputs(args.workdir, model, b)
        with torch.no_grad():
            ys = weights.outputs_as_list(module(*[torch.from_numpy(v) for v in feeds.values()]))
        for i, y in enumerate(ys):
            np.save(inputs.ref_path(args.workdir, model, b, i), y)


def describe(path):
    import onnx
    m = onnx.load(path, load_external_data=False)
    ops = {}
    for n in m.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), None)
    return {"mb": round(os.path.getsize(path) / 2**20, 1), "opset": opset, "nodes": len(m.graph.node),
            "ops": dict(sorted(ops.items(), key=lambda kv: -kv[1]))}


def export_one(module, model, exporter, args, rec):
    """Dynamic-batch export (+ check); for dynamo, static per-batch files when the batch cannot stay dynamic."""
    base = os.path.join(args.workdir, f"{model.name}.{exporter}")
    opset = args.legacy_opset if exporter == "legacy" else args.dynamo_opset
    try:
        export_file(module, model, base + ".onnx", exporter, 2, True, opset)
        rec["files"] = {"*": base + ".onnx"}
    except Exception as e:  # noqa: BLE001 -- the dynamo exporter may refuse a dynamic batch: try static files
        if exporter != "dynamo":
            raise
        rec["note"] = f"dynamic batch failed ({first_line(e)[:200]}); one static file per batch"
        rec["files"] = {}
        for b in args.batches:
            export_file(module, model, f"{base}.b{b}.onnx", exporter, b, False, opset)
            rec["files"][str(b)] = f"{base}.b{b}.onnx"
    first = next(iter(rec["files"].values()))
    rec.update(describe(first))
    if not args.no_ort_check:
        batch = 3 if "*" in rec["files"] else min(args.batches)
        try:
            rec["ort"] = ort_check(module, model, first, batch, args.threads)
        except Exception as e:  # noqa: BLE001 -- ORT may not run a file Kiln can; recorded, not fatal
            rec["ort"] = {"ok": False, "error": gpu_compare.one_line(e)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--exporters", default="legacy")
    ap.add_argument("--batches", default="1")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    ap.add_argument("--export-attn", default="eager", help="transformers attention used for the export")
    ap.add_argument("--legacy-opset", type=int, default=17)
    ap.add_argument("--dynamo-opset", type=int, default=18)
    ap.add_argument("--calib", default="", help="BatchNorm re-estimation BATCHESxIMAGES (default: the model's)")
    ap.add_argument("--no-ort-check", action="store_true")
    ap.add_argument("--refs", action="store_true", help="also write PyTorch FP32 (CPU) reference outputs for the "
                    "input files in --workdir at --batches (zoo_gpu --cpu-smoke)")
    args = ap.parse_args(argv)
    args.batches = [int(b) for b in args.batches.split(",")]
    import torch
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.backends.mha.set_fastpath_enabled(False)  # nn.MultiheadAttention's fused path has no ONNX export
    model = registry.BY_NAME[args.model]
    out = {"model": model.name, "exporters": {}}
    json_path = os.path.join(args.workdir, f"{model.name}.export.json")
    t0 = time.perf_counter()
    try:
        calib = tuple(int(x) for x in args.calib.split("x")) if args.calib else None
        module = weights.realistic(model, attn=args.export_attn, calib=calib)
        state = os.path.join(args.workdir, f"{model.name}.pt")
        torch.save(module.state_dict(), state + ".tmp")
        os.replace(state + ".tmp", state)
        out.update(state=state, weights_s=round(time.perf_counter() - t0, 1))
    except Exception as e:  # noqa: BLE001 -- reported in the JSON for the driver
        out["error"] = "building the model: " + gpu_compare.one_line(e)
        out["traceback"] = traceback.format_exc()[-2000:]
        write_json(json_path, out)
        return 0
    write_json(json_path, out)
    for exporter in args.exporters.split(","):
        rec = out["exporters"][exporter] = {}
        t1 = time.perf_counter()
        try:
            export_one(module, model, exporter, args, rec)
        except Exception as e:  # noqa: BLE001 -- one exporter failing leaves the other's rows
            rec["error"] = f"{exporter} export: " + first_line(e)
            rec["traceback"] = traceback.format_exc()[-2000:]
        rec["seconds"] = round(time.perf_counter() - t1, 1)
        write_json(json_path, out)
    if args.refs:
        t1 = time.perf_counter()
        try:
            write_refs(module, model, args)
            out["refs_s"] = round(time.perf_counter() - t1, 1)
        except Exception as e:  # noqa: BLE001
            out["refs_error"] = "PyTorch FP32 reference: " + gpu_compare.one_line(e)
    out["done"] = True
    out["seconds"] = round(time.perf_counter() - t0, 1)
    write_json(json_path, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
