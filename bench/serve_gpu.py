"""Served vs benchmarked throughput on one GPU (issue 5): ResNet-50 FP16 behind `kiln serve` with dynamic batching,
loaded by `kiln perf` at concurrency 128, compared with `kiln bench` on the same engine in the same run.

Run on a GPU machine: python3 bench/serve_gpu.py --kiln build/bin/kiln [--protocol grpc] [--request-batch 1,8]
Needs torch + torchvision (random weights, no download). Prints one table and writes --out JSON.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time


def log(msg):
    print(f"[serve_gpu {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def export_resnet50(path):
    import torch
    import torchvision
    model = torchvision.models.resnet50(weights=None).eval()
    x = torch.randn(2, 3, 224, 224)
    torch.onnx.export(model, (x,), path, input_names=["input"], output_names=["logits"], opset_version=17,
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)


def run(cmd, timeout):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({p.returncode}): {(p.stderr or p.stdout).strip()[-400:]}")
    return p.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--protocol", default="grpc", choices=["grpc", "http"])
    ap.add_argument("--request-batch", default="1,8", help="images per request, comma list")
    ap.add_argument("--concurrency", type=int, default=128)
    ap.add_argument("--instances", type=int, default=2)
    ap.add_argument("--max-batch", type=int, default=128)
    ap.add_argument("--window-ms", type=int, default=3000)
    ap.add_argument("--out", default="serve_gpu.json")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="kiln_serve_gpu_")
    onnx_path = os.path.join(work, "resnet50.onnx")
    log("export ResNet-50")
    export_resnet50(onnx_path)
    repo = os.path.join(work, "repo")
    os.makedirs(os.path.join(repo, "resnet50", "1"))
    engine = os.path.join(repo, "resnet50", "1", "model.kiln")
    mb = a.max_batch
    log("kiln build (fp16, profile 1..%d)" % mb)
    run([a.kiln, "build", onnx_path, "--device", "cuda", "--precision", "fp16", "-o", engine,
         "--min-shapes", "input:1x3x224x224", "--opt-shapes", f"input:{mb}x3x224x224",
         "--max-shapes", f"input:{mb}x3x224x224"], 600)
    with open(os.path.join(repo, "resnet50", "config.pbtxt"), "w") as f:
        f.write(f"""name: "resnet50"
max_batch_size: {mb}
input [{{ name: "input" data_type: TYPE_FP32 dims: [3, 224, 224] }}]
output [{{ name: "logits" data_type: TYPE_FP32 dims: [1000] }}]
dynamic_batching {{ preferred_batch_size: [{mb // 2}, {mb}] max_queue_delay_microseconds: 2000 }}
instance_group [{{ count: {a.instances} kind: KIND_GPU }}]
""")
    results = {"concurrency": a.concurrency, "instances": a.instances, "protocol": a.protocol, "rows": []}
    log("kiln bench at batch %d (with and without transfers)" % mb)
    for flags, key in (([], "bench_with_transfers"), (["--no-transfers"], "bench_device_resident")):
        out = run([a.kiln, "bench", engine, "--batch", str(mb), "--duration", "3", "--streams", str(a.instances),
                   *flags, "--json", os.path.join(work, key + ".json")], 300)
        with open(os.path.join(work, key + ".json")) as f:
            results[key] = json.load(f)["throughput_inferences_per_s"]
        log(f"{key}: {results[key]:.0f} img/s")
    server = subprocess.Popen([a.kiln, "serve", "--model-repository", repo, "--http-port", "8000", "--grpc-port",
                               "8001", "--metrics-port", "8002"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        t0 = time.time()
        ready = False
        import urllib.request
        while time.time() - t0 < 300 and server.poll() is None:
            try:
                with urllib.request.urlopen("http://127.0.0.1:8000/v2/models/resnet50/ready", timeout=2) as r:
                    ready = r.status == 200
            except Exception:
                pass
            if ready:
                break
            time.sleep(1)
        if not ready:
            raise RuntimeError("server did not become ready: " + (server.stdout.read() if server.poll() else ""))
        log("server ready in %.1f s" % (time.time() - t0))
        url = "127.0.0.1:8001" if a.protocol == "grpc" else "127.0.0.1:8000"
        for b in [int(x) for x in a.request_batch.split(",")]:
            cmd = [a.kiln, "perf", "-m", "resnet50", "-u", url, "-i", a.protocol, "-b", str(b),
                   "--concurrency-range", str(a.concurrency), "-p", str(a.window_ms), "-r", "4"]
            if a.protocol == "http":
                cmd.append("--binary-data")
            out = run(cmd, 240)
            m = re.search(r"throughput: ([0-9.]+) infer/sec, latency ([0-9.]+) usec", out)
            thr = float(m.group(1)) if m else 0.0
            row = {"request_batch": b, "served_img_s": thr, "latency_us": float(m.group(2)) if m else None,
                   "vs_bench_with_transfers": thr / results["bench_with_transfers"],
                   "vs_bench_device_resident": thr / results["bench_device_resident"]}
            results["rows"].append(row)
            log(f"request batch {b}: {thr:.0f} img/s served")
            print(out[-1500:], flush=True)
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    print(f"\n| request batch | served img/s ({a.protocol}, concurrency {a.concurrency}) | kiln bench b{mb} with "
          f"transfers | ratio | kiln bench device-resident | ratio |")
    print("|---|---|---|---|---|---|")
    for r in results["rows"]:
        print(f"| {r['request_batch']} | {r['served_img_s']:,.0f} | {results['bench_with_transfers']:,.0f} | "
              f"{r['vs_bench_with_transfers']:.2f} | {results['bench_device_resident']:,.0f} | "
              f"{r['vs_bench_device_resident']:.2f} |")
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
