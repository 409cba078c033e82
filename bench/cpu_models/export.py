#!/usr/bin/env python3
"""Exports the CPU benchmark models (zoo.py) to ONNX (opset 17, dynamic batch, random weights) into a cache dir.

Usage: python3 bench/cpu_models/export.py [--out DIR] [--models a,b] [--force] [--list]
Default DIR: $KILN_BENCH_MODELS or ~/.cache/kiln/cpu_models. Writes DIR/<name>.onnx and DIR/manifest.json
({name: {file, category, inputs: [{name, shape (batch 1), shape_tput, kind}], tput, tol, note, exporter, seconds}}).
A model already in the manifest with the same spec is not exported again (--force re-exports). Needs torch,
torchvision, transformers (scripts/setup_bench.sh). Uses the TorchScript exporter (dynamo=False, what most
published ONNX files come from) and falls back to the dynamo exporter where it fails.
"""
import argparse
import hashlib
import json
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zoo  # noqa: E402

OPSET = 17
WEIGHTS = 2  # bump when realistic_weights() changes: cached exports are redone


def realistic_weights(model, args):
    """Random weights that behave like trained ones, so the output check sees every layer's error:
    zero-initialized layers (ViT's head) get N(0, 0.02); ConvNeXt's 1e-6 layer scales become 0.5; BatchNorm
    running statistics are recalibrated on the example batch (otherwise deep CNNs' activations vanish to 1e-15)."""
    import torch
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2 and not torch.any(p):
                p.normal_(0, 0.02)
            elif "layer_scale" in name:
                p.fill_(0.5)
        bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        if bns:
            for m in bns:
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration pass
            model.train()
            model(*args)
            model.eval()


def default_dir():
    return os.environ.get("KILN_BENCH_MODELS", os.path.expanduser("~/.cache/kiln/cpu_models"))


def spec_key(name, spec):
    """A fingerprint of what the export depends on (inputs, batch, opset), to invalidate stale cache entries."""
    text = repr((name, OPSET, WEIGHTS, [(i.name, i.shape, i.kind) for i in spec.inputs], spec.tput, spec.outputs))
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def example_inputs(spec, batch):
    import torch
    g = torch.Generator().manual_seed(0)
    out = []
    for inp in spec.inputs:
        shape = zoo.shape_at(inp, batch)
        if inp.kind == "float":
            out.append(torch.randn(shape, generator=g))
        elif inp.kind.startswith("ids:"):
            out.append(torch.randint(0, int(inp.kind[4:]), shape, generator=g, dtype=torch.int64))
        elif inp.kind == "ones":
            out.append(torch.ones(shape, dtype=torch.int64))
        else:
            raise ValueError(f"unknown input kind {inp.kind}")
    return tuple(out)


def _export(model, args, path, spec, dynamo):
    import torch
    in_names = [i.name for i in spec.inputs]
    if dynamo:
        batch = torch.export.Dim("batch", min=1, max=1024)
        dyn = {n: {0: batch} for n in in_names}
        prog = torch.onnx.export(model, args, dynamo=True, opset_version=OPSET, input_names=in_names,
                                 output_names=spec.outputs, dynamic_shapes=dyn, external_data=False)
        prog.save(path)
    else:
        axes = {n: {0: "batch"} for n in in_names + spec.outputs}
        torch.onnx.export(model, args, path, dynamo=False, opset_version=OPSET, input_names=in_names,
                          output_names=spec.outputs, dynamic_axes=axes, do_constant_folding=True)


def export_one(name, out_dir):
    """Exports one model; returns its manifest entry. Raises on failure (both exporters)."""
    import onnx
    import torch
    spec = zoo.MODELS[name]
    torch.manual_seed(0)
    torch.backends.mha.set_fastpath_enabled(False)  # nn.MultiheadAttention's fused path has no ONNX export
    t0 = time.time()
    model = spec.build().eval()
    args = example_inputs(spec, 2)  # batch 2 so no exporter specializes the batch dimension to 1
    realistic_weights(model, example_inputs(spec, 8))
    path = os.path.join(out_dir, name + ".onnx")
    errors = []
    with torch.no_grad():
        for dynamo in (False, True):
            try:
                _export(model, args, path, spec, dynamo)
                onnx.checker.check_model(path)
                exporter = "dynamo" if dynamo else "torchscript"
                break
            except Exception as e:  # noqa: BLE001 - try the other exporter, report both
                errors.append(f"{'dynamo' if dynamo else 'torchscript'}: {type(e).__name__}: {str(e)[:300]}")
        else:
            raise RuntimeError(f"{name}: export failed: " + " | ".join(errors))
    return {
        "file": name + ".onnx", "key": spec_key(name, spec), "category": spec.category,
        "inputs": [{"name": i.name, "shape": list(zoo.shape_at(i, 1)), "shape_tput": list(zoo.shape_at(i, spec.tput)),
                    "kind": i.kind} for i in spec.inputs],
        "tput": spec.tput, "tol": list(spec.tol), "note": spec.note, "exporter": exporter,
        "torch": torch.__version__, "seconds": round(time.time() - t0, 1),
        "mb": round(os.path.getsize(path) / 1e6, 1),
    }


def load_manifest(out_dir):
    path = os.path.join(out_dir, "manifest.json")
    return json.load(open(path)) if os.path.exists(path) else {}


def ensure(names, out_dir, force=False, log=print):
    """Exports the named models that are missing or stale; returns (manifest, {name: error})."""
    os.makedirs(out_dir, exist_ok=True)
    manifest = load_manifest(out_dir)
    errors = {}
    for name in names:
        if name not in zoo.MODELS:
            errors[name] = f"unknown model (known: {', '.join(zoo.MODELS)})"
            continue
        entry = manifest.get(name)
        fresh = entry and entry.get("key") == spec_key(name, zoo.MODELS[name]) and \
            os.path.exists(os.path.join(out_dir, entry["file"]))
        if fresh and not force:
            continue
        log(f"export {name} ...")
        try:
            manifest[name] = export_one(name, out_dir)
            log(f"export {name}: {manifest[name]['mb']} MB, {manifest[name]['exporter']}, "
                f"{manifest[name]['seconds']} s")
        except Exception as e:  # noqa: BLE001 - one broken model must not stop the suite
            errors[name] = str(e).splitlines()[0][:400]
            log(f"export {name}: FAILED {errors[name]}")
            if os.environ.get("KILN_BENCH_DEBUG"):
                traceback.print_exc()
        with open(os.path.join(out_dir, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
    return manifest, errors


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=default_dir())
    ap.add_argument("--models", default="all", help="comma-separated names, or all")
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.list:
        for n, s in zoo.MODELS.items():
            shapes = ", ".join(f"{i.name}{list(zoo.shape_at(i, 1))}" for i in s.inputs)
            print(f"{n:24s} {s.category:13s} tput batch {s.tput:3d}  {shapes}  {s.note}")
        return 0
    names = list(zoo.MODELS) if args.models == "all" else args.models.split(",")
    _, errors = ensure(names, args.out, args.force)
    print(f"{len(names) - len(errors)} of {len(names)} models ready in {args.out}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
