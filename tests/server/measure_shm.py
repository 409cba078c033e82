"""Where a served image request's time goes with and without shared memory (not a test; prints a table).

Builds an image-sized model (FP32 [b,3,224,224] -> GlobalAveragePool -> [b,3,1,1]: 588 KiB in, 12 bytes out, next to
no compute, so the figures are the serving path's cost of moving the input), starts `kiln serve`, and runs
`kiln perf` over HTTP (binary tensors), gRPC, and both with --shared-memory system.

    python3 tests/server/measure_shm.py --kiln build/bin/kiln [--concurrency 8] [--batch 1]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server, save_model, write  # noqa: E402


def image_pool_model(root, name="image224"):
    g = helper.make_graph([helper.make_node("GlobalAveragePool", ["x"], ["y"])], name,
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 3, 224, 224])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 3, 1, 1])])
    save_model(g, os.path.join(root, name, "1", "model.onnx"))
    write(os.path.join(root, name, "config.pbtxt"),
          f'name: "{name}"\nmax_batch_size: 32\n'
          'dynamic_batching { max_queue_delay_microseconds: 200 }\n'
          'instance_group [ { count: 2 kind: KIND_CPU } ]\n')


def run_perf(kiln, port, protocol, extra, concurrency, batch):
    cmd = [kiln, "perf", "-m", "image224", "-u", f"127.0.0.1:{port}", "-i", protocol,
           "--concurrency-range", str(concurrency), "-b", str(batch), "-p", "3000", "-s", "15", "-r", "6", *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        return f"failed: {r.stdout[-300:]} {r.stderr[-300:]}"
    out = r.stdout
    tput = re.search(r"throughput: ([\d.]+) infer/sec", out)
    lat = re.search(r"latency (\d+) usec", out)
    parts = {k: re.search(rf"{k}\s+(\d+) usec", out) for k in ("queue", "compute input", "compute infer",
                                                               "compute output")}
    split = " ".join(f"{k}={m.group(1)}" for k, m in parts.items() if m)
    return f"{float(tput.group(1)):9.1f} infer/s  avg {int(lat.group(1)):6d} us  server: {split}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default=os.environ.get("KILN_BIN", "build/bin/kiln"))
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--batch", type=int, default=1)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as repo:
        image_pool_model(repo)
        s = Server(os.path.abspath(a.kiln), repo)
        try:
            for label, protocol, port, extra in [
                ("HTTP binary", "http", s.http_port, ["--binary-data"]),
                ("HTTP shm", "http", s.http_port, ["--shared-memory", "system"]),
                ("gRPC", "grpc", s.grpc_port, []),
                ("gRPC shm", "grpc", s.grpc_port, ["--shared-memory", "system"]),
            ]:
                print(f"{label:12s} c{a.concurrency} b{a.batch}: "
                      f"{run_perf(a.kiln, port, protocol, extra, a.concurrency, a.batch)}", flush=True)
        finally:
            s.stop()


if __name__ == "__main__":
    main()
