"""Every batch size of a GPU engine's profile gives the model's answer (a check, not a benchmark): ResNet-50 FP16
(bench/serve_gpu.py's export) built with profile 1..128, run with `kiln run` at batch sizes that were not tuned
(the serving batcher pads to whatever preferred sizes a config lists), each row compared with onnxruntime (FP32 CPU).

Run on a GPU machine: python3 bench/batch_sizes_gpu.py --kiln dist/bin/kiln [--batches 1,8,16,32,64,128]
    [--input-dtypes fp32,fp16]
Prints per engine and batch size the worst row's cosine similarity to onnxruntime and exits 1 if any is below
--min-cosine (0.995, serve_gpu.py's rule)."""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_gpu import build_engine, export_resnet50  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--batches", default="1,8,16,32,64,128")
    ap.add_argument("--input-dtypes", default="fp32,fp16")
    ap.add_argument("--max-batch", type=int, default=128)
    ap.add_argument("--min-cosine", type=float, default=0.995)
    a = ap.parse_args()
    import onnxruntime as ort
    work = tempfile.mkdtemp(prefix="kiln_batches_")
    onnx_path = os.path.join(work, "resnet50.onnx")
    export_resnet50(onnx_path)
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    rng = np.random.RandomState(11)
    batches = [int(b) for b in a.batches.split(",")]
    x_all = rng.rand(max(batches), 3, 224, 224).astype(np.float32)
    failures = 0
    for input_dtype in a.input_dtypes.split(","):
        engine = os.path.join(work, f"resnet50_{input_dtype}.kiln")
        build_engine(a, onnx_path, engine, input_dtype)
        np_type = np.float16 if input_dtype == "fp16" else np.float32
        for b in batches:
            x = x_all[:b].astype(np_type)
            ref = np.concatenate([sess.run(None, {"input": x[i:i + 16].astype(np.float32)})[0]
                                  for i in range(0, b, 16)])
            xin = os.path.join(work, "x.npy")
            np.save(xin, x)
            out = os.path.join(work, "out")
            p = subprocess.run([a.kiln, "run", engine, "--input", f"input={xin}", "--output-dir", out,
                                "--output-format", "npy"], capture_output=True, text=True, timeout=600)
            if p.returncode != 0:
                print(f"{input_dtype} b{b}: kiln run failed: {p.stderr.strip()[-300:]}", flush=True)
                failures += 1
                continue
            y = np.load(os.path.join(out, "logits.npy")).astype(np.float32)
            cos = [float((y[i] * ref[i]).sum() / (np.linalg.norm(y[i]) * np.linalg.norm(ref[i]) + 1e-30))
                   for i in range(b)]
            worst = int(np.argmin(cos))
            ok = min(cos) >= a.min_cosine and np.isfinite(y).all()
            failures += not ok
            print(f"{input_dtype} b{b}: worst row {worst} cosine {min(cos):.5f}, mean {np.mean(cos):.5f} "
                  f"{'ok' if ok else 'WRONG'}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
