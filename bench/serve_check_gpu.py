"""Are served answers right at every batch size the batcher can form? (a check, not a benchmark)

ResNet-50 FP16 (serve_gpu.py's export and engine) behind `kiln serve` with each --configs entry
"INSTANCES:GRAPHS:PREFERRED[:eager]" (GRAPHS on|off; PREFERRED sizes joined by '/'; eager: optimization.eager_batching,
whose batches are copied to the GPU ahead of their run), 64 concurrent single-image HTTP requests
three times per config, each response compared with onnxruntime (cosine >= 0.995, serve_gpu.py's rule).
Run on a GPU machine: python3 bench/serve_check_gpu.py --kiln dist/bin/kiln [--input-dtype fp32|fp16]
    [--configs 1:on:16/128,1:off:16/128,4:on:64/128]
Known (2026-12-04, one H200): with CUDA graphs on, batches padded to 8, 16 or 24 rows come back wrong (cosine
0.98-0.99) for fp32 and fp16 inputs; 4, 32, 64 and 128 are right, and every size is right with graphs off or through
`kiln run` (bench/batch_sizes_gpu.py), and right with KILN_CUDA_CONV_GRAPH=0 (legacy cuDNN convolutions). Disabling
cuBLASLt split-K variants or forcing GEMM tactic 0 did not change it.
"""
import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_gpu as sg  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--input-dtype", default="fp32", choices=["fp32", "fp16"])
    ap.add_argument("--configs", default="1:on:16/128,1:off:16/128,1:on:32/128")
    ap.add_argument("--max-batch", type=int, default=128)
    ap.add_argument("--work", help="folder kept between runs: the export and the engine are reused when present")
    ap.add_argument("--server-env", default="", help="extra environment for the server, K=V joined by ','")
    ap.add_argument("--server-log", help="append every server output line here (e.g. with KILN_CUDA_CONV_LOG=1)")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="kiln_serve_check_")
    onnx_path, repo = sg.prepared_engine(a, work)
    env = dict(os.environ)
    env.update(kv.split("=", 1) for kv in a.server_env.split(",") if kv)
    wrong = 0
    for cfg in a.configs.split(","):
        inst, graphs, pref, *mode = cfg.split(":")
        preferred = [int(p) for p in pref.split("/")]
        sg.write_config(repo, a.max_batch, int(inst), input_dtype=a.input_dtype, preferred=preferred,
                        eager=mode == ["eager"])
        if graphs == "off":
            with open(os.path.join(repo, "resnet50", "config.pbtxt"), "a") as f:
                f.write("optimization { cuda { graphs: false } }\n")
        # The server's output goes to a file, not a pipe nobody reads while requests run (a full pipe would stall it).
        out = tempfile.TemporaryFile(mode="w+")
        server = subprocess.Popen([a.kiln, "serve", "--model-repository", repo, "--http-port", "8000", "--grpc-port",
                                   "8001", "--metrics-port", "8002"], stdout=out, stderr=subprocess.STDOUT, text=True,
                                  env=env)
        try:
            sg.wait_ready(server, 8000)
            results = []
            for _ in range(3):
                try:
                    results.append(f"{sg.check_responses(8000, onnx_path, input_dtype=a.input_dtype)} ok")
                except RuntimeError as e:
                    results.append(str(e))
                    wrong += 1
            print(f"input {a.input_dtype}, {inst} instance(s), CUDA graphs {graphs}, preferred {preferred}, "
                  f"eager batching {'on' if mode == ['eager'] else 'off'}, "
                  f"server env '{a.server_env}': "
                  f"{results}", flush=True)
        finally:
            sg.stop_server(server)
            out.seek(0)
            lines = out.readlines()
            if a.server_log:
                with open(a.server_log, "a") as f:
                    f.write(f"== {cfg} env '{a.server_env}'\n" + "".join(lines))
            for line in sorted({line.strip() for line in lines if "CUDA graph" in line or "error" in line}):
                print("  server: " + line, flush=True)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
