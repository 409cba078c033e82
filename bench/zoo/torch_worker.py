"""PyTorch worker (a child process of bench/zoo_gpu.py): references and PyTorch timings for one zoo model.

python3 -m zoo.torch_worker --model NAME --workdir DIR --batches 1,64 [--duration S --windows N ...]
Two phases, so the driver can overlap the first with ONNX exports and run the second when nothing else runs:
1. prepare: loads DIR/NAME.pt (the exported weights) into the model (transformers: SDPA attention), makes an FP32
   and an FP16 copy on the GPU (CNNs channels_last), writes the FP32 reference outputs (TF32 off) for the inputs
   in DIR (zoo.inputs), measures PyTorch FP16's own error, and makes the first torch.compile call per batch
   (reduce-overhead for batch 1, default for the throughput batch; no timing). Prints {"event": "ready", ...}.
2. on a "measure" line on stdin: eager FP16 and torch.compile timings per batch (bench/gpu_compare.py's
   measure(): CUDA-event windows for throughput, synchronized iterations for batch 1). Prints {"event": "result"}.
Every step that fails is recorded as one line under "errors" and the rest go on. A "quit" line ends it early.
"""
import argparse
import copy
import json
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import gpu_compare as gc  # noqa: E402
from zoo import inputs, registry, weights  # noqa: E402


def emit(event, **data):
    print(json.dumps(dict(data, event=event), default=str), flush=True)


class Steps:
    """Runs named steps; a failure is kept as one line (and a short traceback) and the worker goes on."""

    def __init__(self):
        self.errors, self.tracebacks = {}, {}

    def run(self, name, fn):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 -- reported to the driver
            self.errors[name] = gc.one_line(e)
            self.tracebacks[name] = traceback.format_exc()[-1500:]
            return None


def kind_of(batch, model):
    return "latency" if batch == 1 else "throughput"


def torch_args(model, feeds, dtype):
    """The numpy inputs on the GPU in forward() order: float inputs in `dtype`, 4-D ones channels_last for CNNs."""
    import torch
    out = []
    for inp in model.inputs:
        t = torch.from_numpy(feeds[inp.name]).cuda()
        if t.is_floating_point():
            t = t.to(dtype)
            if model.channels_last and t.dim() == 4:
                t = t.contiguous(memory_format=torch.channels_last)
        out.append(t)
    return out


def worst_error(got, ref):
    errs = [gc.rel_errors(g, r) for g, r in zip(weights.outputs_as_list(got), ref)]
    return max(errs, key=lambda e: (not e["finite"], e["rel_l2"]))


def compile_first_call(module, args_t, mode):
    """torch.compile(module, mode, dynamic=False) and its first call (compilation); returns (fn, seconds)."""
    import torch
    cm = torch.compile(module, mode=mode, dynamic=False)
    mark = getattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin", None)
    graphs = mode in ("reduce-overhead", "max-autotune")

    def fn():
        if graphs and mark is not None:
            mark()
        return cm(*args_t)

    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return fn, time.perf_counter() - t0


def build_modules(model, args, st, info):
    """(FP32 GPU module, low-precision GPU modules {dtype name: module}) with the exported weights."""
    import torch
    attn = args.torch_attn
    m = st.run("build", lambda: weights.build(model, attn)) if model.hf else weights.build(model)
    if m is None and model.hf:
        info["attention"] = f"eager ('{attn}' failed: {st.errors.pop('build')})"
        m = weights.build(model, "eager")
    elif model.hf:
        info["attention"] = attn
    state = torch.load(os.path.join(args.workdir, f"{model.name}.pt"), map_location="cpu")
    m.load_state_dict(state)
    ref32 = copy.deepcopy(m).cuda().eval()
    low = {}
    for name, dtype in (("fp16", torch.float16), ("bf16", torch.bfloat16)):
        if name == "fp16" or args.bf16:
            h = copy.deepcopy(m).to(dtype).cuda().eval()
            low[name] = h.to(memory_format=torch.channels_last) if model.channels_last else h
    return ref32, low


def prepare(model, args, st):
    import torch
    for lim in ("cache_size_limit", "recompile_limit", "accumulated_cache_size_limit",
                "accumulated_recompile_limit"):
        if hasattr(torch._dynamo.config, lim):  # several compiled callables live in this process at once
            setattr(torch._dynamo.config, lim, max(getattr(torch._dynamo.config, lim), 64))
    info, state = {"batches": {}}, {}
    ref32, low = build_modules(model, args, st, info)
    half = low["fp16"]
    for b in args.batches:
        rec = info["batches"][str(b)] = {}
        feeds = inputs.load_inputs(args.workdir, model, b)

        def reference():
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
            with torch.inference_mode():
                ys = weights.outputs_as_list(ref32(*torch_args(model, feeds, torch.float32)))
            torch.backends.cudnn.allow_tf32 = True  # PyTorch's default again
            for i, y in enumerate(ys):
                import numpy as np
                np.save(inputs.ref_path(args.workdir, model, b, i), y)
            return ys

        ref = st.run(f"b{b}: PyTorch FP32 reference", reference)
        rec["reference"] = ref is not None
        a16 = torch_args(model, feeds, torch.float16)
        state[b] = {"args": a16, "ref": ref}
        for name, mod in low.items():
            if ref is not None:
                a = a16 if name == "fp16" else torch_args(model, feeds, torch.bfloat16)
                with torch.inference_mode():
                    rec[f"torch_{name}_vs_fp32"] = st.run(f"b{b}: PyTorch {name} error",
                                                          lambda: worst_error(mod(*a), ref))
        if not args.no_compile:
            mode = args.mode_latency if kind_of(b, model) == "latency" else args.mode_throughput

            def first():
                with torch.inference_mode():
                    return compile_first_call(half, a16, mode)

            got = st.run(f"b{b}: torch.compile ({mode}) first call", first)
            if got is not None:
                state[b]["compiled"], rec["compile_first_call_s"], rec["compile_mode"] = got[0], got[1], mode
    del ref32
    torch.cuda.empty_cache()
    return info, half, state


def measure_all(model, args, st, half, state):
    import torch
    out = {}
    for b in args.batches:
        kind, s = kind_of(b, model), state[b]
        rec = out[str(b)] = {}
        if not args.no_eager:
            with torch.inference_mode():
                rec["eager"] = st.run(f"b{b}: eager FP16 timing", lambda: gc.measure(
                    lambda: half(*s["args"]), kind, b, args.duration, args.windows))
        if "compiled" in s:
            fn = s["compiled"]
            with torch.inference_mode():
                r = st.run(f"b{b}: torch.compile timing",
                           lambda: gc.measure(fn, kind, b, args.duration, args.windows))
                if r is not None and s["ref"] is not None:
                    r["vs_fp32"] = st.run(f"b{b}: torch.compile error", lambda: worst_error(fn(), s["ref"]))
            rec["compile"] = r
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--batches", required=True)
    ap.add_argument("--duration", type=float, default=2.0)
    ap.add_argument("--windows", type=int, default=3)
    ap.add_argument("--torch-attn", default="sdpa")
    ap.add_argument("--mode-latency", default="reduce-overhead")
    ap.add_argument("--mode-throughput", default="default")
    ap.add_argument("--bf16", action="store_true", help="also measure PyTorch BF16's own error")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--no-eager", action="store_true")
    args = ap.parse_args(argv)
    args.batches = [int(b) for b in args.batches.split(",")]
    model = registry.BY_NAME[args.model]
    st, t0 = Steps(), time.perf_counter()
    try:
        info, half, state = prepare(model, args, st)
    except Exception as e:  # noqa: BLE001 -- the whole model failed on the PyTorch side
        emit("ready", fatal=gc.one_line(e), traceback=traceback.format_exc()[-2000:], errors=st.errors)
        return 0
    emit("ready", seconds=time.perf_counter() - t0, info=info, errors=st.errors, tracebacks=st.tracebacks)
    line = sys.stdin.readline().strip()
    if line != "measure":
        return 0
    st.errors.clear()
    t1 = time.perf_counter()
    res = measure_all(model, args, st, half, state)
    emit("result", seconds=time.perf_counter() - t1, batches=res, errors=st.errors, tracebacks=st.tracebacks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
