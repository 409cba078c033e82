#!/usr/bin/env python3
"""Kiln (CPU reference backend) vs ONNX Runtime (CPU) on the bundled default models, same inputs, same machine.

Prints per model: outputs agree?, Kiln and ORT throughput and median latency, and the Kiln/ORT ratio.
Usage: python3 bench/cpu_compare.py [--kiln build/bin/kiln] [--duration 3] [--threads 1]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "models"))
import make_models  # noqa: E402


def ort_bench(sess, feeds, duration):
    for _ in range(3):
        sess.run(None, feeds)
    lat = []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < duration or len(lat) < 10:
        s = time.perf_counter()
        sess.run(None, feeds)
        lat.append((time.perf_counter() - s) * 1e3)
    wall = time.perf_counter() - t0
    return len(lat) / wall, float(np.median(lat))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default="build/bin/kiln")
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=1, help="ORT intra-op threads (Kiln's reference backend is single-threaded)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "..", "models", "make_models.py"), tmp],
                   check=True, capture_output=True)
    rng = np.random.default_rng(0)
    cases = [("small_cnn", {"image": rng.standard_normal((8, 3, 32, 32), dtype=np.float32)})]
    tb = os.path.join(tmp, "transformer_block.onnx")
    import onnx
    names = [i.name for i in onnx.load(tb).graph.input]
    cases.append(("transformer_block", {names[0]: rng.standard_normal((4, 16, 64), dtype=np.float32),
                                        names[1]: np.zeros((4, 1, 1, 16), dtype=np.float32)}))
    print(f"{'model':20s} {'agree':6s} {'kiln qps':>10s} {'ort qps':>10s} {'kiln med ms':>12s} {'ort med ms':>11s} {'kiln/ort':>9s}")
    for name, feeds in cases:
        model = os.path.join(tmp, name + ".onnx")
        engine = os.path.join(tmp, name + ".kiln")
        shapes = ",".join(f"{k}:{'x'.join(map(str, v.shape))}" for k, v in feeds.items())
        subprocess.run([args.kiln, "build", model, "-o", engine], check=True, capture_output=True)
        inputs = []
        for k, v in feeds.items():
            p = os.path.join(tmp, f"{name}_{len(inputs)}.npy")
            np.save(p, v)
            inputs += ["--input", f"{k}={p}"]
        outdir = os.path.join(tmp, name + "_out")
        subprocess.run([args.kiln, "run", engine, *inputs, "--output-dir", outdir, "--output-format", "npy"],
                       check=True, capture_output=True)
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        ref = sess.run(None, feeds)
        agree = True
        for o, r in zip(sess.get_outputs(), ref):
            fn = "".join(c if c.isalnum() or c in "_-." else "_" for c in o.name)
            got = np.load(os.path.join(outdir, fn + ".npy"))
            agree &= bool(np.allclose(got, r, rtol=1e-4, atol=1e-5))
        js = os.path.join(tmp, name + ".json")
        subprocess.run([args.kiln, "bench", engine, "--shapes", shapes, "--duration", str(args.duration), "--json", js],
                       check=True, capture_output=True)
        kb = json.load(open(js))
        oq, om = ort_bench(sess, feeds, args.duration)
        kq, km = kb["throughput_qps"], kb["latency_ms"]["median"]
        print(f"{name:20s} {str(agree):6s} {kq:10.1f} {oq:10.1f} {km:12.3f} {om:11.3f} {kq / oq:9.3f}")


if __name__ == "__main__":
    main()
