"""Served vs benchmarked throughput on the CPU (issue 14, item 5): a model behind `kiln serve` (CPU instances,
dynamic batching) loaded by `kiln perf` over gRPC at one sample per request, against `kiln bench` on the same engine
file and the same cores, in one run. Responses are checked against onnxruntime before and after each load.

    python3 bench/serve_cpu.py --kiln build/bin/kiln                         # the default models
    python3 bench/serve_cpu.py --models small_cnn --concurrency 64 --instances 1,2

Models: the bundled ones need nothing (models/make_models.py writes them); the exported ones come from
bench/cpu_models (KILN_BENCH_MODELS or ~/.cache/kiln/cpu_models; `python3 bench/cpu_models/export.py --models NAME`).
The client runs on the same machine as the server, so on a small machine it takes cores the server could use; the
table says how many cores the machine has. Prints one table and writes --out JSON.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: (file under the bundled folder or the exported model folder, input, per-sample dims, output, max batch)
MODELS = {
    "mlp_embed_head": ("mlp_embed_head.onnx", "x", [512], None, 64),
    "mlp_wakeword": ("mlp_wakeword.onnx", "x", [64], None, 64),
    "mobilenet_v3_small": ("mobilenet_v3_small.onnx", "input", [3, 224, 224], None, 16),
    "small_cnn": ("bundled/small_cnn.onnx", "image", [3, 32, 32], None, 32),
}


def log(msg):
    print(f"[serve_cpu {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd, timeout):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({p.returncode}): {(p.stderr or p.stdout).strip()[-400:]}")
    return p.stdout


def model_path(model_dir, rel):
    if rel.startswith("bundled/"):
        bundled = os.path.join(model_dir, rel)
        if os.path.exists(bundled):
            return bundled
        out = os.path.join(tempfile.gettempdir(), "kiln_serve_cpu_bundled")
        if not os.path.exists(os.path.join(out, os.path.basename(rel))):
            run([sys.executable, os.path.join(ROOT, "models", "make_models.py"), out], 300)
        return os.path.join(out, os.path.basename(rel))
    path = os.path.join(model_dir, rel)
    if not os.path.exists(path):
        raise RuntimeError(f"{path} is missing: python3 bench/cpu_models/export.py --models {rel[:-5]}")
    return path


def bench(kiln, engine, inp, dims, batch, threads, duration, pin=None):
    out = run((pin or []) + [kiln, "bench", engine, "--shapes", f"{inp}:{'x'.join(map(str, [batch] + dims))}", "--threads",
               str(threads), "--duration", str(duration), "--warmup", "1"], 600)
    m = re.search(r"Throughput: [0-9.]+ qps \(([0-9.]+) inferences/s", out)
    if not m:
        raise RuntimeError("kiln bench printed no throughput: " + out[-300:])
    return float(m.group(1))


def write_repo(repo, name, engine, inp, dims, mb, instances, delay_us):
    os.makedirs(os.path.join(repo, name, "1"), exist_ok=True)
    dst = os.path.join(repo, name, "1", "model.kiln")
    if os.path.exists(dst):
        os.remove(dst)
    os.symlink(os.path.abspath(engine), dst)
    with open(os.path.join(repo, name, "config.pbtxt"), "w") as f:
        f.write(f"""name: "{name}"
max_batch_size: {mb}
dynamic_batching {{ max_queue_delay_microseconds: {delay_us} }}
instance_group [{{ count: {instances} kind: KIND_CPU }}]
""")


def wait_ready(server, name, timeout=120):
    import urllib.request
    t0 = time.time()
    while time.time() - t0 < timeout and server.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:18000/v2/models/{name}/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.3)
    out = server.stdout.read() if server.poll() is not None else ""
    raise RuntimeError(f"server did not become ready: {out[-400:]}")


def check_responses(onnx_path, name, inp, dims, requests=48):
    """Concurrent single-sample HTTP requests (so that the batcher forms batches) against onnxruntime."""
    import onnxruntime as ort
    import tritonclient.http as th
    rng = np.random.RandomState(3)
    xs = [rng.uniform(-1, 1, [1] + dims).astype(np.float32) for _ in range(8)]
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    out_names = [o.name for o in sess.get_outputs()]
    refs = [sess.run(None, {inp: x}) for x in xs]
    client = th.InferenceServerClient("127.0.0.1:18000", concurrency=16)
    pending = []
    for i in range(requests):  # all in flight at once (tritonclient.http's async_infer), so the batcher batches them
        x = xs[i % len(xs)]
        t = th.InferInput(inp, list(x.shape), "FP32")
        t.set_data_from_numpy(x, binary_data=True)
        pending.append((i % len(xs), client.async_infer(name, [t], outputs=[th.InferRequestedOutput(o, binary_data=True)
                                                                           for o in out_names])))
    for k, req in pending:
        r = req.get_result()
        for o, ref in zip(out_names, refs[k]):
            y = r.as_numpy(o)
            err = float(np.abs(y - ref).max()) if y.shape == ref.shape else float("inf")
            if not err <= 1e-4 + 1e-3 * float(np.abs(ref).max()):
                raise RuntimeError(f"{name}: response {k} output {o} differs from onnxruntime (max abs {err:.3g})")
    client.close()
    return requests


def serve_row(a, name, onnx_path, engine, inp, dims, mb, instances, shm, work):
    repo = os.path.join(work, f"repo_{name}_{instances}")
    write_repo(repo, name, engine, inp, dims, mb, instances, a.delay_us)
    server = subprocess.Popen(a.server_pin + [a.kiln, "serve", "--model-repository", repo, "--http-port", "18000", "--grpc-port",
                               "18001", "--metrics-port", "18002"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        wait_ready(server, name)
        checked = check_responses(onnx_path, name, inp, dims)
        url = "127.0.0.1:18001" if a.protocol == "grpc" else "127.0.0.1:18000"
        out = run(a.client_pin + [a.kiln, "perf", "-m", name, "-u", url, "-i", a.protocol, "--concurrency-range",
                   str(a.concurrency), "-p", str(a.window_ms), "-r", "4", "--shape", f"{inp}:{','.join(map(str, dims))}",
                   "--shared-memory", shm],
                  300)
        m = re.search(r"throughput: ([0-9.]+) infer/sec, latency ([0-9.]+) usec", out)
        if not m:
            raise RuntimeError("kiln perf printed no throughput: " + out[-300:])
        checked += check_responses(onnx_path, name, inp, dims)
        return float(m.group(1)), float(m.group(2)), checked
    finally:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build", "bin", "kiln"))
    ap.add_argument("--models", default="mlp_embed_head,mobilenet_v3_small,small_cnn")
    ap.add_argument("--model-dir", default=os.environ.get("KILN_BENCH_MODELS",
                                                          os.path.expanduser("~/.cache/kiln/cpu_models")))
    ap.add_argument("--instances", default="1,2", help="CPU instance counts, comma list")
    ap.add_argument("--protocol", default="grpc", choices=["grpc", "http"])
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--shared-memory", default="none,system", help="kiln perf --shared-memory modes, comma list")
    ap.add_argument("--delay-us", type=int, default=500, help="dynamic batching max_queue_delay_microseconds")
    ap.add_argument("--window-ms", type=int, default=3000)
    ap.add_argument("--duration", type=float, default=3, help="kiln bench seconds per row")
    ap.add_argument("--out", default="serve_cpu.json")
    ap.add_argument("--pin", action="store_true",
                    help="client on the first core, server and kiln bench on the others (taskset): the server's cores "
                         "are then the bench's cores and the client does not compete for them")
    a = ap.parse_args()
    allowed = sorted(os.sched_getaffinity(0))
    a.server_pin, a.client_pin = [], []
    if a.pin:
        if len(allowed) < 2:
            sys.exit("--pin needs at least 2 cores")
        a.server_pin = ["taskset", "-c", ",".join(map(str, allowed[1:]))]
        a.client_pin = ["taskset", "-c", str(allowed[0])]
    cores = len(allowed) - 1 if a.pin else len(allowed)
    results = {"machine": {"cores": len(allowed), "server_threads": cores}, "args": vars(a), "rows": []}
    work = tempfile.mkdtemp(prefix="kiln_serve_cpu_")
    lines = []
    for name in a.models.split(","):
        rel, inp, dims, _, mb = MODELS[name]
        onnx_path = model_path(a.model_dir, rel)
        engine = os.path.join(work, f"{name}.kiln")
        run([a.kiln, "build", onnx_path, "--device", "cpu", "-o", engine], 600)
        b_max = bench(a.kiln, engine, inp, dims, mb, cores, a.duration, a.server_pin)
        b_one = bench(a.kiln, engine, inp, dims, 1, cores, a.duration, a.server_pin)
        log(f"{name}: kiln bench {b_max:.0f} inf/s at batch {mb}, {b_one:.0f} at batch 1 ({cores} threads)")
        for inst, shm in [(int(i), m) for i in a.instances.split(",") for m in a.shared_memory.split(",")]:
            served, lat, checked = serve_row(a, name, onnx_path, engine, inp, dims, mb, inst, shm, work)
            row = {"model": name, "max_batch": mb, "instances": inst, "shared_memory": shm, "served_inf_s": served,
                   "latency_us": lat,
                   "bench_inf_s_max_batch": b_max, "bench_inf_s_batch1": b_one, "vs_bench": served / b_max,
                   "responses_checked": checked}
            results["rows"].append(row)
            lines.append(f"{name:20s} {mb:5d} {inst:4d} {shm:>6s} {served:12.0f} {lat / 1000:9.2f} {b_max:12.0f} {b_one:12.0f} "
                         f"{served / b_max:7.2f} {checked:5d}")
            log(lines[-1])
    where = (f"client pinned to core {allowed[0]}, server and kiln bench to cores {allowed[1:]}" if a.pin
             else "client and server share the machine's cores")
    print(f"machine: {len(allowed)} cores; kiln perf {a.protocol}, concurrency {a.concurrency}, one sample per request, "
          f"max_queue_delay {a.delay_us} us; {where}; kiln bench with {cores} threads")
    print(f"{'model':20s} {'maxb':>5s} {'inst':>4s} {'shm':>6s} {'served/s':>12s} {'lat ms':>9s} {'bench@maxb':>12s} "
          f"{'bench@1':>12s} {'ratio':>7s} {'ok':>5s}")
    for l in lines:
        print(l)
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
