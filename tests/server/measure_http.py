#!/usr/bin/env python3
"""Prints kiln serve HTTP throughput figures (not a test): a tiny model at concurrency 64, and a small CPU model
with dynamic batching on vs off (same server, same instance count), measured with wrk on this machine.

usage: python3 tests/server/measure_http.py [--kiln build/bin/kiln] [--duration 5] [--connections 64]"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server, add_model, save_model, write  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def deep_mlp(root, name, batching, width=16, layers=48):
    """A small CPU model: 48 x (MatMul 16x16, Add, Relu); per-execution cost dominates per-row cost."""
    inits, nodes, prev = [], [], "x"
    for i in range(layers):
        w = (np.random.RandomState(i).randn(width, width) * 0.3).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(np.full(width, 0.01, np.float32), f"b{i}")]
        nodes += [helper.make_node("MatMul", [prev, f"w{i}"], [f"m{i}"]),
                  helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"]),
                  helper.make_node("Relu", [f"a{i}"], [f"r{i}"])]
        prev = f"r{i}"
    nodes.append(helper.make_node("Identity", [prev], ["y"]))
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", width])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", width])], inits)
    save_model(g, os.path.join(root, name, "1", "model.onnx"))
    cfg = f'name: "{name}"\nmax_batch_size: 64\ninstance_group [ {{ count: 2 kind: KIND_CPU }} ]\n'
    if batching:
        cfg += "dynamic_batching { max_queue_delay_microseconds: 500 }\n"
    write(os.path.join(root, name, "config.pbtxt"), cfg)


def run_wrk(port, model, body, args, tmp):
    body_path = os.path.join(tmp, f"{model}.json")
    with open(body_path, "w") as f:
        json.dump(body, f)
    lua = os.path.join(tmp, f"{model}.lua")
    write(lua, f'wrk.method = "POST"\nlocal f = io.open("{body_path}", "r"); wrk.body = f:read("*a"); f:close()\n'
               'wrk.headers["Content-Type"] = "application/json"\n')
    cmd = ["wrk", "-t2", f"-c{args.connections}", f"-d{args.duration}s", "--latency", "-s", lua,
           f"http://127.0.0.1:{port}/v2/models/{model}/infer"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = re.search(r"50%\s+(\S+)", out).group(1)
    p99 = re.search(r"99%\s+(\S+)", out).group(1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p50, p99, int(errors.group(1)) if errors else 0, " ".join(cmd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default=os.path.join(REPO, "build", "bin", "kiln"))
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=64)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    tmp = tempfile.mkdtemp(prefix="kiln-measure-")
    add_model(tmp, "tiny", config='name: "tiny"\nmax_batch_size: 64\n'
                                  'dynamic_batching { max_queue_delay_microseconds: 100 }\n'
                                  'instance_group [ { count: 2 kind: KIND_CPU } ]\n')
    deep_mlp(tmp, "mlp_batching_on", True)
    deep_mlp(tmp, "mlp_batching_off", False)
    server = Server(os.path.abspath(args.kiln), tmp)
    try:
        tiny = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}
        mlp = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 16], "data": [0.5] * 16}]}
        rows = {}
        for model, body in [("tiny", tiny), ("mlp_batching_off", mlp), ("mlp_batching_on", mlp)]:
            rows[model] = run_wrk(server.http_port, model, body, args, tmp)
            rps, p50, p99, errors, cmd = rows[model]
            st = server.stats(model)
            print(f"{model}: {rps:.0f} infer/s, p50 {p50}, p99 {p99}, non-2xx {errors}, "
                  f"executions {st['execution_count']} for {st['inference_count']} inferences\n  {cmd}")
        ratio = rows["mlp_batching_on"][0] / rows["mlp_batching_off"][0]
        print(f"batching on / off: {ratio:.2f}x")
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
