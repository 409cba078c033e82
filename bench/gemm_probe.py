#!/usr/bin/env python3
"""GEMM probe: one FP16 (fused) GEMM per engine, Kiln vs torch, on the GPU machine.

For each shape M x K x N (default: BERT-base's projections at 8192 and 128 tokens) this builds two one-node ONNX
models in float16 - MatMul with a [K, N] weight ("NN") and Gemm transB=1 with an [N, K] weight ("TN") - each
followed by a bias Add and optionally GELU (erf), runs `kiln bench --no-transfers --cuda-graph` on each, and times
torch's x @ W, F.linear and F.linear + gelu on the same shapes with CUDA events. Prints TFLOP/s side by side.

  python3 bench/gemm_probe.py --kiln dist/bin/kiln [--shapes 8192x768x3072,...] [--gelu]
"""
import argparse
import json
import os
import subprocess
import tempfile

import numpy as np


def make_model(path, m, k, n, tn, gelu):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((n, k) if tn else (k, n)) * 0.02).astype(np.float16)
    b = (rng.standard_normal(n) * 0.02).astype(np.float16)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
    if tn:
        nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1)]
    else:
        nodes = [helper.make_node("MatMul", ["x", "w"], ["mm"]), helper.make_node("Add", ["mm", "b"], ["h"])]
    if gelu:
        nodes.append(helper.make_node("Gelu", ["h"], ["y"]))
    else:
        nodes.append(helper.make_node("Identity", ["h"], ["y"]))
    g = helper.make_graph(nodes, "probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [m, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [m, n])], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 20)])
    onnx.save(model, path)


def kiln_ms(kiln, onnx_path, workdir, extra_build):
    engine = onnx_path.replace(".onnx", ".kiln")
    subprocess.run([kiln, "build", onnx_path, "-o", engine, "--device", "cuda", "--precision", "fp16"] + extra_build,
                   check=True, capture_output=True)
    js = onnx_path.replace(".onnx", ".json")
    subprocess.run([kiln, "bench", engine, "--no-transfers", "--cuda-graph", "--duration", "1", "--json", js],
                   check=True, capture_output=True)
    prof = subprocess.run([kiln, "bench", engine, "--no-transfers", "--profile", "--duration", "0.3"],
                          capture_output=True, text=True)
    tactic = [l.strip() for l in prof.stdout.splitlines() if "cublasLt" in l or "tactic" in l][:2]
    return json.load(open(js))["compute_median_ms"], tactic


def torch_ms(fn, iters=50):
    import torch
    for _ in range(5):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iters


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", default="dist/bin/kiln")
    ap.add_argument("--shapes", default="8192x768x768,8192x768x2304,8192x768x3072,8192x3072x768,"
                                        "128x768x768,128x768x2304,128x768x3072,128x3072x768")
    ap.add_argument("--gelu-shapes", default="8192x768x3072,128x768x3072", help="shapes also probed with GELU")
    ap.add_argument("--kiln-build-args", default="")
    args = ap.parse_args()
    import torch
    import torch.nn.functional as F
    work = tempfile.mkdtemp(prefix="gemm_probe_")
    rows = []
    cases = [(s, False) for s in args.shapes.split(",")] + [(s, True) for s in args.gelu_shapes.split(",") if s]
    for shape, gelu in cases:
        m, k, n = (int(v) for v in shape.split("x"))
        flop = 2.0 * m * k * n
        x = torch.randn(m, k, device="cuda", dtype=torch.float16)
        w_kn = torch.randn(k, n, device="cuda", dtype=torch.float16) * 0.02
        w_nk = w_kn.t().contiguous()
        b = torch.randn(n, device="cuda", dtype=torch.float16) * 0.02
        if gelu:
            t_lin = torch_ms(lambda: F.gelu(F.linear(x, w_nk, b)))
            t_mm = torch_ms(lambda: F.gelu(torch.addmm(b, x, w_kn)))
        else:
            t_lin = torch_ms(lambda: F.linear(x, w_nk, b))
            t_mm = torch_ms(lambda: torch.addmm(b, x, w_kn))
        row = {"shape": shape, "gelu": gelu, "torch_linear_ms": t_lin, "torch_addmm_kn_ms": t_mm}
        for tn in (False, True):
            p = os.path.join(work, f"{shape}_{'tn' if tn else 'nn'}_{int(gelu)}.onnx")
            make_model(p, m, k, n, tn, gelu)
            try:
                ms, tactic = kiln_ms(args.kiln, p, work, args.kiln_build_args.split())
            except subprocess.CalledProcessError as e:
                ms, tactic = float("nan"), [str(e.stderr)[-300:]]
            row["kiln_tn_ms" if tn else "kiln_nn_ms"] = ms
            row["kiln_tn_tactic" if tn else "kiln_nn_tactic"] = tactic
        rows.append(row)
        tf = lambda ms: flop / ms / 1e9
        print(f"{shape:>16} gelu={int(gelu)}  torch linear {t_lin*1e3:8.1f} us ({tf(t_lin):5.0f} TF/s)  "
              f"addmm[K,N] {t_mm*1e3:8.1f} us ({tf(t_mm):5.0f})  kiln NN {row['kiln_nn_ms']*1e3:8.1f} us "
              f"({tf(row['kiln_nn_ms']):5.0f})  kiln TN {row['kiln_tn_ms']*1e3:8.1f} us ({tf(row['kiln_tn_ms']):5.0f})",
              flush=True)
        for key in ("kiln_nn_tactic", "kiln_tn_tactic"):
            for line in row[key]:
                print(f"{'':>18}{key}: {line}")
    out = os.environ.get("OUT")
    if out:
        json.dump(rows, open(os.path.join(out, "gemm_probe.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
