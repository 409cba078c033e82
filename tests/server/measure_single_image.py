"""Single-image requests at high concurrency: requests/s of `kiln serve` per protocol (not a test; prints a table).

Builds an image-sized model ("input" FP32 [b,3,224,224] -> Slice of pixel (0,0) -> Flatten -> "output" [b,3]:
588 KiB in, 12 bytes out, next to no compute: the CPU backend's reductions over 588 KiB images would take longer
than the serving path being measured), served with ResNet-like batching (max_batch_size 128, preferred 64/128, two CPU
instances), and runs `kiln perf -b 1` over gRPC and HTTP, each with and without system shared memory, at each
concurrency. Every figure comes from one server process, so rows compare like with like.

    python3 tests/server/measure_single_image.py --kiln build/bin/kiln [--concurrency 64:128:64] [--delay-us 500]
        [--protocols grpc-shm,grpc,http-shm,http] [--serve-args "--http-thread-count 4"] [--kiln-before OLD/kiln]

--kiln-before also serves the model with a second binary (its server, measured with its own client) and measures each
protocol with it right before the --kiln binary, for before/after figures from one run.
"""
import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile

from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server, save_model, write  # noqa: E402

MODEL = "image_pixel"


def image_pixel_model(root, delay_us, instances):
    init = [helper.make_tensor("starts", TensorProto.INT64, [2], [0, 0]),
            helper.make_tensor("ends", TensorProto.INT64, [2], [1, 1]),
            helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3])]
    g = helper.make_graph([helper.make_node("Slice", ["input", "starts", "ends", "axes"], ["pixel"]),
                           helper.make_node("Flatten", ["pixel"], ["output"])], MODEL,
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["b", 3, 224, 224])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["b", 3])], init)
    save_model(g, os.path.join(root, MODEL, "1", "model.onnx"))
    write(os.path.join(root, MODEL, "config.pbtxt"),
          f'name: "{MODEL}"\nmax_batch_size: 128\n'
          'input [ { name: "input" data_type: TYPE_FP32 dims: [ 3, 224, 224 ] } ]\n'
          'output [ { name: "output" data_type: TYPE_FP32 dims: [ 3 ] } ]\n'
          f'dynamic_batching {{ preferred_batch_size: [ 64, 128 ] max_queue_delay_microseconds: {delay_us} }}\n'
          f'instance_group [ {{ count: {instances} kind: KIND_CPU }} ]\n')


PROTOCOLS = {  # label -> (kiln perf -i, extra flags)
    "grpc-shm": ("grpc", ["--shared-memory", "system"]),
    "grpc": ("grpc", []),
    "http-shm": ("http", ["--shared-memory", "system"]),
    "http": ("http", ["--binary-data"]),
}


def run_perf(kiln, port, protocol, extra, concurrency, measure_ms):
    cmd = [kiln, "perf", "-m", MODEL, "-u", f"127.0.0.1:{port}", "-i", protocol, "-b", "1",
           "--concurrency-range", concurrency, "-p", str(measure_ms), "-s", "20", "-r", "4", *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        return None, f"failed: {r.stdout[-400:]} {r.stderr[-400:]}"
    rows = []
    # One block per step: "Concurrency: N, throughput: X infer/sec, latency L usec" plus the server split lines.
    blocks = re.split(r"(?=Request concurrency: )", r.stdout)
    for b in blocks:
        m = re.search(r"Concurrency: (\d+), throughput: ([\d.]+) infer/sec, latency (\d+) usec", b)
        if not m:
            continue
        split = {k: re.search(rf"{k}\s+(\d+) usec", b) for k in ("queue", "compute input", "compute infer",
                                                                  "compute output")}
        rows.append((int(m.group(1)), float(m.group(2)), int(m.group(3)),
                     {k: int(v.group(1)) for k, v in split.items() if v}))
    return rows, r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default=os.environ.get("KILN_BIN", "build/bin/kiln"))
    ap.add_argument("--concurrency", default="64:128:64")
    ap.add_argument("--delay-us", type=int, default=500)
    ap.add_argument("--instances", type=int, default=2)
    ap.add_argument("--measure-ms", type=int, default=3000)
    ap.add_argument("--protocols", default="grpc-shm,grpc,http-shm,http")
    ap.add_argument("--serve-args", default="", help="extra kiln serve flags")
    ap.add_argument("--verbose", action="store_true", help="print kiln perf's full output")
    ap.add_argument("--kiln-before", help="a second kiln binary, measured first (rows labelled 'before')")
    a = ap.parse_args()
    print(f"{'binary':7s} {'protocol':9s} {'conc':>5s} {'req/s':>9s} {'lat us':>8s}   server per request (us): "
          "queue / compute input / infer / output", flush=True)
    binaries = ([("before", a.kiln_before)] if a.kiln_before else []) + [("after" if a.kiln_before else "", a.kiln)]
    with tempfile.TemporaryDirectory() as repo:
        image_pixel_model(repo, a.delay_us, a.instances)
        # Both servers run side by side (an idle one costs nothing) and each protocol is measured with one binary
        # right after the other, so that a change in the machine's other load shifts both alike.
        servers = []
        try:
            for tag, kiln in binaries:
                servers.append((tag, os.path.abspath(kiln), Server(os.path.abspath(kiln), repo,
                                                                   *shlex.split(a.serve_args))))
            for label in a.protocols.split(","):
                for tag, kiln, s in servers:
                    measure(tag, kiln, s, label, a)
        finally:
            for _, _, s in servers:
                s.stop()


def measure(tag, kiln, s, label, a):
    protocol, extra = PROTOCOLS[label]
    port = s.grpc_port if protocol == "grpc" else s.http_port
    rows, out = run_perf(kiln, port, protocol, extra, a.concurrency, a.measure_ms)
    if a.verbose:
        print(out)
    if rows is None:
        print(f"{tag:7s} {label:9s} {out}", flush=True)
        return
    for c, tput, lat, split in rows:
        parts = " / ".join(str(split.get(k, "-")) for k in ("queue", "compute input", "compute infer",
                                                            "compute output"))
        print(f"{tag:7s} {label:9s} {c:5d} {tput:9.1f} {lat:8d}   {parts}", flush=True)

if __name__ == "__main__":
    main()
