#!/usr/bin/env python3
"""Child process that times one ONNX Runtime CPU session (so its peak RSS is measured like Kiln's own process).

Usage: python3 ort_worker.py JOB.json   JOB = {model, inputs: {name: file.npy}, threads, duration, warmup,
iterations, out_dir (outputs saved as <i>.npy, in ORT's output order), result (path of the JSON written)}.
Result: {ok, qps, median_ms, iterations, outputs: [names], load_s} or {ok: false, error}.
The session uses the CPU execution provider, ORT_ENABLE_ALL, intra_op_num_threads = threads, inter_op 1,
sequential execution (ORT's defaults otherwise, including its spinning thread pool).
"""
import json
import os
import sys
import time


def run(job):
    import numpy as np
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = int(job["threads"])
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    t0 = time.perf_counter()
    sess = ort.InferenceSession(job["model"], so, providers=["CPUExecutionProvider"])
    load_s = time.perf_counter() - t0
    feeds = {k: np.load(v) for k, v in job["inputs"].items()}
    outs = sess.run(None, feeds)
    if job.get("out_dir"):
        os.makedirs(job["out_dir"], exist_ok=True)
        for i, o in enumerate(outs):
            np.save(os.path.join(job["out_dir"], f"{i}.npy"), o)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < float(job["warmup"]):
        sess.run(None, feeds)
    lat = []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < float(job["duration"]) or len(lat) < int(job["iterations"]):
        s = time.perf_counter()
        sess.run(None, feeds)
        lat.append((time.perf_counter() - s) * 1e3)
    wall = time.perf_counter() - t0
    return {"ok": True, "qps": len(lat) / wall, "median_ms": float(np.median(lat)), "iterations": len(lat),
            "outputs": [o.name for o in sess.get_outputs()], "load_s": load_s}


def main():
    job = json.load(open(sys.argv[1]))
    try:
        res = run(job)
    except Exception as e:  # noqa: BLE001 - reported as the row's one-line error
        res = {"ok": False, "error": f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300]}"}
    with open(job["result"], "w") as f:
        json.dump(res, f)
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
