"""Served vs benchmarked throughput on one GPU (issue 5): ResNet-50 FP16 behind `kiln serve` with dynamic batching,
loaded by `kiln perf` at concurrency 128, compared with `kiln bench` on the same engine in the same run.

Run on a GPU machine: python3 bench/serve_gpu.py --kiln build/bin/kiln [--protocol grpc] [--request-batch 1,8]
    [--shared-memory none,system,cuda] [--input-dtypes fp32,fp16] [--instances 4]
--input-dtypes fp16 serves an engine built with --input-dtype input:fp16 behind a TYPE_FP16 config (clients send half
the bytes); every engine's responses are checked against onnxruntime before and after its load.
Needs torch + torchvision (random weights, no download). Prints one table and writes --out JSON.

Several GPUs (issue 6): --gpus 0,1 serves the same engine twice, first with instance_group gpus: [0] and then with
gpus: [0, 1] (--instances per GPU), checks responses against PyTorch while requests spread over the devices, loads
each with `kiln perf` at --concurrency (use 256) and prints the two-GPU / one-GPU served ratio (target >= 1.8), with
`kiln bench --devices` figures for the same engine.
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
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None)
    # Re-estimate BatchNorm statistics on random images in [0, 1): with the init statistics the residual stream
    # grows without bound and FP16 outputs overflow, which would make the response check meaningless.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.rand(8, 3, 224, 224))
    model.eval()
    x = torch.randn(2, 3, 224, 224)
    torch.onnx.export(model, (x,), path, input_names=["input"], output_names=["logits"], opset_version=17,
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)


def run(cmd, timeout):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({p.returncode}): {(p.stderr or p.stdout).strip()[-400:]}")
    return p.stdout


def stop_server(server):
    """SIGTERM (the server drains), then SIGKILL if it has not exited within a minute."""
    server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()


KSERVE_TYPES = {"float32": "FP32", "float16": "FP16", "uint8": "UINT8"}
CONFIG_TYPES = {"fp32": "TYPE_FP32", "fp16": "TYPE_FP16", "uint8": "TYPE_UINT8"}


def http_infer_binary(port, x):
    """One binary-extension HTTP request: x [n,3,224,224] (float32 or float16) -> logits [n,1000] float32."""
    import http.client
    import numpy as np
    header = json.dumps({"inputs": [{"name": "input", "shape": list(x.shape), "datatype": KSERVE_TYPES[x.dtype.name],
                                     "parameters": {"binary_data_size": x.nbytes}}],
                         "outputs": [{"name": "logits", "parameters": {"binary_data": True}}]}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("POST", "/v2/models/resnet50/infer", header + x.tobytes(),
                     {"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"})
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"infer failed ({r.status}): {body[:300]!r}")
        n = int(r.getheader("Inference-Header-Content-Length"))
        return np.frombuffer(body[n:], dtype=np.float32).reshape(x.shape[0], 1000)
    finally:
        conn.close()


def check_responses(port, onnx_path, requests=64, threads=32, input_dtype="fp32"):
    """Concurrent requests (so that every device serves some) against PyTorch-equivalent outputs computed with
    onnxruntime on the CPU when available, else against each other for equal inputs. Returns the number checked.
    input_dtype fp16: the requests carry float16 images and the reference runs on the same (widened) values."""
    import concurrent.futures
    import numpy as np
    rng = np.random.RandomState(7)
    xs = [rng.rand(1, 3, 224, 224).astype(np.float16 if input_dtype == "fp16" else np.float32) for _ in range(8)]
    try:
        import onnxruntime as ort
        sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        refs = [sess.run(None, {"input": x.astype(np.float32)})[0] for x in xs]
    except ImportError:
        refs = [None] * len(xs)
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        outs = list(pool.map(lambda i: (i % len(xs), http_infer_binary(port, xs[i % len(xs)])), range(requests)))
    first = {}
    for k, y in outs:
        ref = refs[k] if refs[k] is not None else first.setdefault(k, y)
        cos = float((y * ref).sum() / (np.linalg.norm(y) * np.linalg.norm(ref) + 1e-30))
        if not np.isfinite(y).all() or cos < 0.995:
            raise RuntimeError(f"wrong response for input {k}: cosine similarity {cos:.5f} to the reference")
    return len(outs)


def wait_ready(server, port, timeout=600):
    import urllib.request
    t0 = time.time()
    while time.time() - t0 < timeout and server.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/resnet50/ready", timeout=2) as r:
                if r.status == 200:
                    return time.time() - t0
        except Exception:
            pass
        time.sleep(1)
    raise RuntimeError("server did not become ready: " + (server.stdout.read() if server.stdout and server.poll() is not None else ""))


def write_config(repo, mb, instances, gpus=None, input_dtype="fp32", preferred=None, eager=False):
    group = f"count: {instances} kind: KIND_GPU" + (f" gpus: [{', '.join(map(str, gpus))}]" if gpus else "")
    optimization = "optimization { eager_batching: true }\n" if eager else ""
    preferred = preferred or [mb // 4, mb // 2, 3 * mb // 4, mb]
    in_type = CONFIG_TYPES[input_dtype]
    with open(os.path.join(repo, "resnet50", "config.pbtxt"), "w") as f:
        f.write(f"""name: "resnet50"
max_batch_size: {mb}
input [{{ name: "input" data_type: {in_type} dims: [3, 224, 224] }}]
output [{{ name: "logits" data_type: TYPE_FP32 dims: [1000] }}]
dynamic_batching {{ preferred_batch_size: [{", ".join(map(str, preferred))}] max_queue_delay_microseconds: 2000 }}
instance_group [{{ {group} }}]
{optimization}""")
        # Warm up every batch size the batcher forms (preferred sizes), so that the first request of a new shape does
        # not wait for per-shape plans (cuDNN graph plans, CUDA graph capture) while kiln perf measures.
        for size in preferred:
            f.write(f"""model_warmup [{{ name: "b{size}" batch_size: {size} count: 1
  inputs {{ key: "input" value {{ data_type: {in_type} dims: [3, 224, 224] zero_data: true }} }} }}]
""")


def multi_gpu(a, work, repo, engine, onnx_path):
    """--gpus: one-GPU vs all-listed-GPUs served throughput at the same concurrency, responses checked."""
    gpus = [int(g) for g in a.gpus.split(",")]
    results = {"gpus": gpus, "concurrency": a.concurrency, "instances_per_gpu": a.instances, "protocol": a.protocol,
               "shared_memory": a.shared_memory.split(",")[0],
               "request_batch": int(a.request_batch.split(",")[0]), "served": {}}
    mb = a.max_batch
    out = run([a.kiln, "bench", engine, "--batch", str(mb), "--duration", "3", "--streams", str(a.instances),
               "--devices", a.gpus, "--json", os.path.join(work, "bench_devices.json")], 600)
    print(out, flush=True)
    with open(os.path.join(work, "bench_devices.json")) as f:
        bd = json.load(f)
    results["bench_devices"] = {"combined": bd["throughput_inferences_per_s"],
                                "per_device": {str(d["gpu"]): d["throughput_inferences_per_s"] for d in bd["devices"]}}
    for label, use in (("one_gpu", gpus[:1]), ("all_gpus", gpus)):
        write_config(repo, mb, a.instances, use)
        server = subprocess.Popen([a.kiln, "serve", "--model-repository", repo, "--http-port", "8000", "--grpc-port",
                                   "8001", "--metrics-port", "8002"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        try:
            log(f"{label} (gpus {use}): server ready in {wait_ready(server, 8000):.1f} s")
            checked = check_responses(8000, onnx_path)
            log(f"{label}: {checked} responses checked")
            url = "127.0.0.1:8001" if a.protocol == "grpc" else "127.0.0.1:8000"
            cmd = [a.kiln, "perf", "-m", "resnet50", "-u", url, "-i", a.protocol, "-b",
                   str(results["request_batch"]), "--concurrency-range", str(a.concurrency), "-p", str(a.window_ms),
                   "-r", "4"]
            if a.protocol == "http":
                cmd.append("--binary-data")
            shm = a.shared_memory.split(",")[0]
            if shm != "none":
                cmd += ["--shared-memory", shm]
            out = run(cmd, 300)
            print(out[-1200:], flush=True)
            m = re.search(r"throughput: ([0-9.]+) infer/sec, latency ([0-9.]+) usec", out)
            thr = float(m.group(1)) if m else 0.0
            checked += check_responses(8000, onnx_path)  # still correct after the load
            import urllib.request
            with urllib.request.urlopen("http://127.0.0.1:8002/metrics", timeout=10) as r:
                metrics = r.read().decode()
            per_device = {ln.split('device="')[1].split('"')[0]: float(ln.rsplit(" ", 1)[1])
                          for ln in metrics.splitlines() if ln.startswith("kiln_device_exec_count{")}
            results["served"][label] = {"img_s": thr, "latency_us": float(m.group(2)) if m else None,
                                        "responses_checked": checked, "exec_count_per_device": per_device}
            log(f"{label}: {thr:.0f} img/s served; batches per device {per_device}")
        finally:
            stop_server(server)
    one, both = results["served"]["one_gpu"]["img_s"], results["served"]["all_gpus"]["img_s"]
    results["scaling"] = both / one if one else 0.0
    print(f"\n| GPUs | served img/s ({a.protocol}, concurrency {a.concurrency}) | responses checked | "
          f"kiln bench --devices img/s |")
    print("|---|---|---|---|")
    for label, use in (("one_gpu", gpus[:1]), ("all_gpus", gpus)):
        r = results["served"][label]
        b = (results["bench_devices"]["per_device"].get(str(use[0])) if len(use) == 1
             else results["bench_devices"]["combined"])
        print(f"| {','.join(map(str, use))} | {r['img_s']:,.0f} | {r['responses_checked']} | {b or 0:,.0f} |")
    print(f"Scaling {len(gpus)} GPUs / 1 GPU: {results['scaling']:.2f}x (target >= 1.8x for 2 GPUs)")
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)
    return 0


def prepared_engine(a, work):
    """ResNet-50's export and FP16 engine in a kept work folder (reused when present): (onnx path, model repository)."""
    onnx_path = os.path.join(work, "resnet50.onnx")
    if not os.path.exists(onnx_path):
        export_resnet50(onnx_path)
    repo = os.path.join(work, "repo")
    engine = os.path.join(repo, "resnet50", "1", "model.kiln")
    os.makedirs(os.path.dirname(engine), exist_ok=True)
    if not os.path.exists(engine):
        build_engine(a, onnx_path, engine, a.input_dtype)
    return onnx_path, repo


def preferred_sizes(a):
    mb = a.max_batch
    return [int(p) for p in a.preferred.split(",")] if getattr(a, "preferred", "") else [mb // 4, mb // 2, 3 * mb // 4, mb]


def build_engine(a, onnx_path, engine, input_dtype):
    """--tune-batches preferred (default): one profile per preferred batch size, each tuned at its size (what `kiln
    serve` does when it compiles an ONNX model); max: one profile 1..max tuned at max (other sizes run untuned)."""
    mb = a.max_batch
    cmd = [a.kiln, "build", onnx_path, "--device", "cuda", "--precision", "fp16", "-o", engine]
    if getattr(a, "tune_batches", "max") == "preferred":
        cmd += ["--tune-batch-sizes", ",".join(map(str, [mb] + [p for p in preferred_sizes(a) if p != mb]))]
    else:
        cmd += ["--min-shapes", "input:1x3x224x224", "--opt-shapes", f"input:{mb}x3x224x224",
                "--max-shapes", f"input:{mb}x3x224x224"]
    if input_dtype != "fp32":
        cmd += ["--input-dtype", f"input:{input_dtype}"]
    run(cmd, 600)


def serve_rows(a, work, repo, onnx_path, input_dtype, results, env=None):
    """One server on the engine in repo: responses checked before and after, one kiln perf run per (shm, batch)."""
    server = subprocess.Popen([a.kiln, "serve", "--model-repository", repo, "--http-port", "8000", "--grpc-port",
                               "8001", "--metrics-port", "8002"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=env)
    try:
        log(f"input {input_dtype}: server ready in {wait_ready(server, 8000):.1f} s")
        checked = check_responses(8000, onnx_path, input_dtype=input_dtype)
        url = "127.0.0.1:8001" if a.protocol == "grpc" else "127.0.0.1:8000"
        for shm, b in [(m, int(x)) for m in a.shared_memory.split(",") for x in a.request_batch.split(",")]:
            cmd = [a.kiln, "perf", "-m", "resnet50", "-u", url, "-i", a.protocol, "-b", str(b),
                   "--concurrency-range", str(a.concurrency), "-p", str(a.window_ms), "-r", "4",
                   "--shared-memory", shm]
            if a.protocol == "http" and shm == "none":
                cmd.append("--binary-data")
            out = run(cmd, 240)
            m = re.search(r"throughput: ([0-9.]+) infer/sec, latency ([0-9.]+) usec", out)
            thr = float(m.group(1)) if m else 0.0
            bench = results["bench"][input_dtype]
            row = {"input_dtype": input_dtype, "request_batch": b, "shared_memory": shm, "served_img_s": thr,
                   "latency_us": float(m.group(2)) if m else None,
                   "vs_bench_with_transfers": thr / bench["with_transfers"],
                   "vs_bench_device_resident": thr / bench["device_resident"]}
            results["rows"].append(row)
            log(f"input {input_dtype}, request batch {b}, shared memory {shm}: {thr:.0f} img/s served")
            print(out[-800:], flush=True)
        checked += check_responses(8000, onnx_path, input_dtype=input_dtype)  # still correct after the load
        results["responses_checked"][input_dtype] = checked
        log(f"input {input_dtype}: {checked} responses checked against onnxruntime")
    finally:
        stop_server(server)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--protocol", default="grpc", choices=["grpc", "http"])
    ap.add_argument("--request-batch", default="1,8", help="images per request, comma list")
    ap.add_argument("--concurrency", type=int, default=128)
    ap.add_argument("--shared-memory", default="none",
                    help="comma list of kiln perf --shared-memory modes to measure: none, system, cuda (e.g. "
                         "none,system,cuda; cuda passes tensors through GPU memory shared with CUDA IPC)")
    ap.add_argument("--input-dtypes", default="fp32",
                    help="comma list of the engine's input types to serve (fp32, fp16): fp16 builds with "
                         "--input-dtype input:fp16 and a TYPE_FP16 config, so clients send half the bytes")
    ap.add_argument("--instances", type=int, default=4,
                    help="GPU execution contexts: each assembles its batch on the host while the others compute "
                         "(measured on one H200: 4 serve 32.8k img/s where 2 serve 25.6k, fp16 input, 8 img/request)")
    ap.add_argument("--eager-batching", default="off",
                    help="comma list of off, on, on-nocopy: optimization.eager_batching of the served model, each "
                         "measured in the same run (each instance forms and assembles its next batch, and copies it "
                         "to the GPU on its own stream, while its current one runs; on-nocopy leaves the copy in the "
                         "run, KILN_SERVE_COPY_AHEAD=0)")
    ap.add_argument("--max-batch", type=int, default=128)
    ap.add_argument("--preferred", default="",
                    help="preferred batch sizes, comma list (default: max/4, max/2, 3max/4, max); each is warmed up, "
                         "and batches are padded up to the next one")
    ap.add_argument("--tune-batches", default="preferred", choices=["preferred", "max"],
                    help="preferred: the engine is tuned at max batch and at each preferred size (kiln build "
                         "--tune-batch-sizes, as kiln serve does for ONNX models); max: tuned at max batch only")
    ap.add_argument("--window-ms", type=int, default=3000)
    ap.add_argument("--out", default="serve_gpu.json")
    ap.add_argument("--gpus", default="", help="e.g. 0,1: compare one GPU with all of these (issue 6); implies "
                                                 "the first --request-batch only")
    ap.add_argument("--work", help="folder kept between runs (bench/cuda_shm_check_gpu.py's too): the export and an "
                                   "engine built for the same input type are reused when present")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="kiln_serve_gpu_")
    os.makedirs(work, exist_ok=True)
    onnx_path = os.path.join(work, "resnet50.onnx")
    if not os.path.exists(onnx_path):
        log("export ResNet-50")
        export_resnet50(onnx_path)
    repo = os.path.join(work, "repo")
    os.makedirs(os.path.join(repo, "resnet50", "1"), exist_ok=True)
    engine = os.path.join(repo, "resnet50", "1", "model.kiln")
    mb = a.max_batch
    if a.gpus:
        log("kiln build (fp16, profile 1..%d)" % mb)
        build_engine(a, onnx_path, engine, "fp32")
        return multi_gpu(a, work, repo, engine, onnx_path)
    results = {"concurrency": a.concurrency, "instances": a.instances, "protocol": a.protocol, "rows": [],
               "bench": {}, "responses_checked": {}}
    for input_dtype in a.input_dtypes.split(","):
        built_for = engine + ".input_dtype"  # which input type the engine in `work` was built for
        reuse = a.work and os.path.exists(engine) and os.path.exists(built_for)
        built_key = (f"{input_dtype} tune {a.tune_batches} {','.join(map(str, preferred_sizes(a)))}"
                     f" rtc-profiles {os.environ.get('KILN_CUDA_CONV_RTC_PROFILES', '')}")  # docs/gpu.md
        if not (reuse and open(built_for).read() == built_key):
            log(f"kiln build (fp16, profile 1..{mb}, input {input_dtype})")
            build_engine(a, onnx_path, engine, input_dtype)
            with open(built_for, "w") as f:
                f.write(built_key)
        bench = {}
        for flags, key in (([], "with_transfers"), (["--no-transfers"], "device_resident")):
            jpath = os.path.join(work, f"bench_{input_dtype}_{key}.json")
            run([a.kiln, "bench", engine, "--batch", str(mb), "--duration", "3", "--streams", str(a.instances),
                 *flags, "--json", jpath], 300)
            with open(jpath) as f:
                bench[key] = json.load(f)["throughput_inferences_per_s"]
            log(f"input {input_dtype}: kiln bench b{mb} {key}: {bench[key]:.0f} img/s")
        results["bench"][input_dtype] = bench
        for eager in a.eager_batching.split(","):
            if eager not in ("off", "on", "on-nocopy"):
                sys.exit(f"--eager-batching: '{eager}' is not one of off, on, on-nocopy")
            write_config(repo, mb, a.instances, input_dtype=input_dtype, eager=eager != "off",
                         preferred=preferred_sizes(a))
            env = dict(os.environ, KILN_SERVE_COPY_AHEAD="0" if eager == "on-nocopy" else "1")
            serve_rows(a, work, repo, onnx_path, input_dtype, results, env)
            for r in results["rows"]:
                r.setdefault("eager_batching", eager)
            checked = results["responses_checked"]
            checked[f"{input_dtype}, eager batching {eager}"] = checked.pop(input_dtype, None)
    print(f"\n| input | eager batching | request batch | shared memory | served img/s ({a.protocol}, concurrency {a.concurrency}) | "
          f"kiln bench b{mb} with transfers | ratio | kiln bench device-resident | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results["rows"]:
        b = results["bench"][r["input_dtype"]]
        print(f"| {r['input_dtype']} | {r['eager_batching']} | {r['request_batch']} | {r['shared_memory']} | {r['served_img_s']:,.0f} | "
              f"{b['with_transfers']:,.0f} | {r['vs_bench_with_transfers']:.2f} | {b['device_resident']:,.0f} | "
              f"{r['vs_bench_device_resident']:.2f} |")
    print("responses checked against onnxruntime:", results["responses_checked"])
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
