"""bench/serve_cpu.py end to end on the bundled small_cnn: builds the engine, runs kiln bench, serves it with
dynamic batching, checks responses against onnxruntime before and after a short kiln perf load, and writes a row
whose served throughput and ratio are positive (about 20 s)."""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_serve_cpu_small_cnn(kiln_bin, tmp_path):
    out = tmp_path / "serve_cpu.json"
    p = subprocess.run([sys.executable, os.path.join(REPO, "bench", "serve_cpu.py"), "--kiln", kiln_bin,
                        "--models", "small_cnn", "--model-dir", str(tmp_path), "--instances", "1",
                        "--shared-memory", "none,system", "--duration", "0.5", "--window-ms", "1000",
                        "--concurrency", "8", "--out", str(out)], capture_output=True, text=True, timeout=280)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert [r["shared_memory"] for r in rows] == ["none", "system"]
    for r in rows:
        assert r["responses_checked"] == 96
        assert r["served_inf_s"] > 0 and r["bench_inf_s_max_batch"] > 0 and r["vs_bench"] > 0
    assert "small_cnn" in p.stdout and "ratio" in p.stdout
