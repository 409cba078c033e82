"""kiln perf against kiln serve over HTTP and gRPC: step reports, CSV, --shape parsing, input data, error exits,
--shared-memory cuda's refusal on a host without a GPU."""
import csv
import json
import re
import shutil
import socket
import subprocess

import pytest

from test_grpc_support import ODD_INPUT, Server, kiln_binary, make_repository

STEP_LINE = re.compile(r"^Concurrency: (\d+), throughput: ([0-9.]+) infer/sec, latency (\d+) usec$", re.M)
RATE_LINE = re.compile(r"^Request Rate: ([0-9.]+), throughput: ([0-9.]+) infer/sec, latency (\d+) usec$", re.M)
# Short windows keep the suite fast; a generous stability bound avoids long searches on a busy machine.
FAST = ["-p", "300", "-s", "50", "-r", "4"]


@pytest.fixture(scope="module")
def kiln(request):
    return kiln_binary(request.config)


@pytest.fixture(scope="module")
def server(kiln, tmp_path_factory):
    s = Server(kiln, make_repository(str(tmp_path_factory.mktemp("repo"))))
    yield s
    s.stop()


def perf(kiln, *args, timeout=120):
    return subprocess.run([kiln, "perf", *args], capture_output=True, text=True, timeout=timeout)


def ok(result):
    assert result.returncode == 0, f"kiln perf failed:\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def server_inference_counts(out):
    return [int(x) for x in re.findall(r"Inference count: (\d+)", out)]


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_concurrency_steps_and_csv(kiln, server, tmp_path, protocol):
    port = server.http_port if protocol == "http" else server.grpc_port
    csv_path = tmp_path / "out.csv"
    out = ok(perf(kiln, "-m", "add_one", "-i", protocol, "-u", f"127.0.0.1:{port}", "--concurrency-range", "1:4:3",
                  *FAST, "-f", str(csv_path)))
    steps = STEP_LINE.findall(out)
    assert [int(c) for c, _, _ in steps] == [1, 4]
    for _, tput, lat in steps:
        assert float(tput) > 0 and int(lat) > 0
    # Each step's report ends with the summary line.
    blocks = [b for b in out.split("\n\n") if "Request concurrency" in b]
    assert len(blocks) == 2 and all(STEP_LINE.search(b.strip().splitlines()[-1]) for b in blocks)
    for key in ("p50 latency", "p90 latency", "p95 latency", "p99 latency", "Avg latency", "compute infer"):
        assert key in out
    assert all(c > 0 for c in server_inference_counts(out))
    rows = list(csv.reader(open(csv_path)))
    assert rows[0][:13] == ["Concurrency", "Inferences/Second", "Client Send", "Network+Server Send/Recv",
                            "Server Queue", "Server Compute Input", "Server Compute Infer", "Server Compute Output",
                            "Client Recv", "p50 latency", "p90 latency", "p95 latency", "p99 latency"]
    assert sorted(int(r[0]) for r in rows[1:]) == [1, 4]
    for r in rows[1:]:
        assert float(r[1]) > 0 and all(float(v) >= 0 for v in r[2:])
    # Rows are sorted by throughput as perf_analyzer writes them.
    assert [float(r[1]) for r in rows[1:]] == sorted(float(r[1]) for r in rows[1:])


def test_batch_and_binary_data(kiln, server):
    out = ok(perf(kiln, "-m", "add_one", "-u", f"127.0.0.1:{server.http_port}", "-b", "4", "--binary-data",
                  "--concurrency-range", "2", *FAST))
    (c, tput, _), = STEP_LINE.findall(out)
    requests = int(re.search(r"Request count: (\d+)", out).group(1))
    assert c == "2" and requests > 0
    # Throughput counts inferences: 4 per request.
    assert float(tput) > 0
    infer = server_inference_counts(out)[0]
    success = int(re.search(r"Successful request count: (\d+)", out).group(1))
    # Both counters come from one statistics snapshot, but a request in flight may be counted by one only.
    assert abs(infer - 4 * success) <= 4 * 2
    assert success > 0


def test_shape_with_colon_and_slash_in_name(kiln, server):
    out = ok(perf(kiln, "-m", "odd_names", "-i", "grpc", "-u", f"127.0.0.1:{server.grpc_port}",
                  "--shape", f"{ODD_INPUT}:2,3", *FAST))
    assert len(STEP_LINE.findall(out)) == 1
    # Without --shape the dynamic dims cannot be guessed: one line, exit 1.
    r = perf(kiln, "-m", "odd_names", "-u", f"127.0.0.1:{server.http_port}", *FAST)
    assert r.returncode == 1 and ODD_INPUT in r.stderr and "--shape" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_request_rate(kiln, server):
    out = ok(perf(kiln, "-m", "add_one", "-u", f"127.0.0.1:{server.http_port}", "--request-rate-range", "100",
                  "--request-distribution", "poisson", "-p", "500", "-s", "50", "-r", "4"))
    (rate, tput, _), = RATE_LINE.findall(out)
    assert float(rate) == 100
    assert 50 < float(tput) < 150  # an open loop delivers about the asked rate


def test_input_data_file(kiln, server, tmp_path):
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"data": [{"INPUT0": [1, 2, 3, 4]},
                                         {"INPUT0": {"content": [5, 6, 7, 8], "shape": [4]}}]}))
    ok(perf(kiln, "-m", "add_one", "-u", f"127.0.0.1:{server.http_port}", "--input-data", str(data), *FAST))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"data": [{"INPUT0": [1, 2, 3]}]}))
    r = perf(kiln, "-m", "add_one", "-u", f"127.0.0.1:{server.http_port}", "--input-data", str(bad), *FAST)
    assert r.returncode == 1 and "INPUT0" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_server_down(kiln, protocol):
    r = perf(kiln, "-m", "add_one", "-i", protocol, "-u", f"127.0.0.1:{free_port()}", *FAST, timeout=60)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1 and "error" in r.stderr


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_unknown_model(kiln, server, protocol):
    port = server.http_port if protocol == "http" else server.grpc_port
    r = perf(kiln, "-m", "no_such_model", "-i", protocol, "-u", f"127.0.0.1:{port}", *FAST)
    assert r.returncode == 1 and "no_such_model" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args,needle", [
    (["--shape", "INPUT0"], "NAME:d0"),
    (["--shape", "INPUT0:4,x"], "'x'"),
    (["--shape", "INPUT0:"], "NAME:d0"),
    (["--shape", "NOPE:4"], "NOPE"),
    (["--shape", "INPUT0:5"], "fixed"),
    (["--concurrency-range", "4:2"], "concurrency-range"),
    (["--concurrency-range", "a:b"], "concurrency-range"),
    (["-b", "9"], "max_batch_size"),
])
def test_bad_arguments(kiln, server, args, needle):
    r = perf(kiln, "-m", "add_one", "-u", f"127.0.0.1:{server.http_port}", *FAST, *args)
    assert r.returncode != 0
    assert needle in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def host_has_gpu():
    if not shutil.which("nvidia-smi"):
        return False
    r = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return r.returncode == 0 and "GPU" in r.stdout


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_shared_memory_cuda(kiln, server, protocol):
    port = server.http_port if protocol == "http" else server.grpc_port
    r = perf(kiln, "-m", "add_one", "-i", protocol, "-u", f"127.0.0.1:{port}", "--shared-memory", "cuda",
             "--concurrency-range", "2", "-b", "2", *FAST)
    if host_has_gpu():
        assert r.returncode == 0, r.stdout + r.stderr
        assert STEP_LINE.search(r.stdout)
        return
    # No GPU (or a build without CUDA): one clear line before any region is registered, exit 1, no crash.
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "--shared-memory cuda" in lines[0]
    assert "CUDA device" in lines[0] or "built without CUDA" in lines[0], lines[0]
    # An out-of-range --cuda-device is refused by the option parser.
    r = perf(kiln, "-m", "add_one", "-i", protocol, "-u", f"127.0.0.1:{port}", "--shared-memory", "cuda",
             "--cuda-device", "-1", *FAST)
    assert r.returncode != 0 and "cuda-device" in r.stderr
