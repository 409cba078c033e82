"""Helpers (no tests) for the kiln serve HTTP suites: model repositories built with onnx.helper, a `kiln serve`
subprocess on free ports (ports read from its JSON log lines), and small HTTP clients."""
import http.client
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def save_model(graph, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def add_model(root, name="add", const=(1.0, 2.0, 3.0, 4.0), config=None, version=1):
    """y = x + const, FP32 [batch, 4]."""
    c = helper.make_tensor("c", TensorProto.FLOAT, [4], list(const))
    g = helper.make_graph([helper.make_node("Add", ["x", "c"], ["y"])], name,
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])], [c])
    save_model(g, os.path.join(root, name, str(version), "model.onnx"))
    if config is None:
        config = (f'name: "{name}"\nmax_batch_size: 64\n'
                  'input [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
                  'output [ { name: "y" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
                  'dynamic_batching { max_queue_delay_microseconds: 2000 }\n')
    write(os.path.join(root, name, "config.pbtxt"), config)


def slow_model(root, name="slow", config=None, width=256, layers=16):
    """A chain of MatMuls on [batch, width]: a few ms per row, because it is served as an engine built for the
    reference backend (the oracle: float64, one thread) when $KILN_BIN is known (conftest sets it), so that tests
    of timeouts, queues and drains do not depend on how fast the CPU backend gets."""
    inits, nodes, prev = [], [], "x"
    for i in range(layers):
        w = (np.random.RandomState(i).randn(width, width) * 0.05).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [f"h{i}"]))
        prev = f"h{i}"
    nodes.append(helper.make_node("Identity", [prev], ["y"]))
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", width])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", width])], inits)
    onnx_path = os.path.join(root, name, "1", "model.onnx")
    save_model(g, onnx_path)
    if os.environ.get("KILN_BIN"):
        subprocess.run([os.environ["KILN_BIN"], "build", onnx_path, "--backend", "reference", "-o",
                        os.path.join(root, name, "1", "model.kiln")], check=True, capture_output=True)
        os.remove(onnx_path)
    if config is None:
        config = (f'name: "{name}"\nmax_batch_size: 16\n'
                  f'input [ {{ name: "x" data_type: TYPE_FP32 dims: [ {width} ] }} ]\n'
                  f'output [ {{ name: "y" data_type: TYPE_FP32 dims: [ {width} ] }} ]\n'
                  'instance_group [ { count: 1 kind: KIND_CPU } ]\n')
    write(os.path.join(root, name, "config.pbtxt"), config)


def multi_model(root, name="multi"):
    """Two inputs (INT64 [2,3], BOOL [2,3]) and two outputs, no batching: a = i + 1, b = not(m)."""
    one = helper.make_tensor("one", TensorProto.INT64, [1], [1])
    g = helper.make_graph([helper.make_node("Add", ["i", "one"], ["a"]), helper.make_node("Not", ["m"], ["b"])], name,
                          [helper.make_tensor_value_info("i", TensorProto.INT64, [2, 3]),
                           helper.make_tensor_value_info("m", TensorProto.BOOL, [2, 3])],
                          [helper.make_tensor_value_info("a", TensorProto.INT64, [2, 3]),
                           helper.make_tensor_value_info("b", TensorProto.BOOL, [2, 3])], [one])
    save_model(g, os.path.join(root, name, "1", "model.onnx"))
    write(os.path.join(root, name, "config.pbtxt"), f'name: "{name}"\nmax_batch_size: 0\n')


def string_model(root, name="strings"):
    """y = Identity(x), BYTES [batch, 2], dynamic batching."""
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], name,
                          [helper.make_tensor_value_info("x", TensorProto.STRING, ["b", 2])],
                          [helper.make_tensor_value_info("y", TensorProto.STRING, ["b", 2])])
    save_model(g, os.path.join(root, name, "1", "model.onnx"))
    write(os.path.join(root, name, "config.pbtxt"),
          f'name: "{name}"\nmax_batch_size: 8\ndynamic_batching {{ max_queue_delay_microseconds: 1000 }}\n')


def big_model(root, name="big", mib=192):
    """y = x + w with a large FP32 initializer (for the unload memory test)."""
    n = mib * (1 << 20) // 4
    w = numpy_helper.from_array(np.full((n,), 0.5, np.float32), "w")
    g = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], name,
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n])], [w])
    save_model(g, os.path.join(root, name, "1", "model.onnx"))
    write(os.path.join(root, name, "config.pbtxt"), f'name: "{name}"\nmax_batch_size: 0\n')


class Server:
    """`kiln serve` on free ports; stderr JSON lines are collected in self.logs."""

    def __init__(self, kiln, repo, *args, env=None):
        self.cmd = [kiln, "serve", "--model-repository", str(repo), "--http-port", "0", "--grpc-port", "0",
                    "--metrics-port", "0", *args]
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     env=env)
        self.logs, self.ports = [], {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.time() + 120
        while "http" not in self.ports or "metrics" not in self.ports:
            if self.proc.poll() is not None:
                raise RuntimeError("kiln serve exited: " + "\n".join(map(str, self.logs)))
            if time.time() > deadline:
                self.stop()
                raise RuntimeError("kiln serve did not start: " + "\n".join(map(str, self.logs)))
            time.sleep(0.05)
        self.http_port = self.ports["http"]
        self.metrics_port = self.ports["metrics"]
        self.grpc_port = self.ports.get("grpc")

    def _read(self):
        for line in self.proc.stderr:
            try:
                rec = json.loads(line)
            except ValueError:
                rec = {"raw": line.rstrip()}
            self.logs.append(rec)
            if rec.get("msg") == "listening":
                self.ports[rec["protocol"]] = int(rec["port"])

    def request(self, method, path, body=None, headers=None, port=None, timeout=60):
        conn = http.client.HTTPConnection("127.0.0.1", port or self.http_port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def get_json(self, path):
        status, _, body = self.request("GET", path)
        return status, (json.loads(body) if body else None)

    def post_json(self, path, doc, headers=None):
        status, hdrs, body = self.request("POST", path, json.dumps(doc).encode(), headers)
        return status, (json.loads(body) if body else None)

    def stats(self, model):
        status, doc = self.get_json(f"/v2/models/{model}/stats")
        assert status == 200, doc
        return doc["model_stats"][0]

    def metrics(self):
        status, _, body = self.request("GET", "/metrics", port=self.metrics_port)
        assert status == 200
        return body.decode()

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)
        return self.proc.returncode

    def rss_bytes(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0


def infer_doc(x, name="x", datatype="FP32", **extra):
    x = np.asarray(x)
    doc = {"inputs": [{"name": name, "datatype": datatype, "shape": list(x.shape), "data": x.flatten().tolist()}]}
    doc.update(extra)
    return doc


def output(doc, i=0):
    out = doc["outputs"][i]
    return np.array(out["data"]).reshape(out["shape"])


def metric_value(text, name, **labels):
    """Value of the first sample `name{labels...}` in Prometheus text, or None."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if not (head == name or head.startswith(name + "{")):
            continue
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return None


def run_client_snippet(code, timeout=120, **values):
    """Runs Python `code` in a child interpreter and fails the test with its output when it raises. For clients whose
    protobuf package `inference` clashes with test_grpc_support.py's generated stubs in one process (tritonclient.grpc,
    the kserve SDK). `values` are bound as globals of the snippet (repr-able values only)."""
    prelude = "".join(f"{k} = {v!r}\n" for k, v in values.items())
    r = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, f"client snippet failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def run_suite_in_own_process(test_file, kiln_bin, timeout=400):
    """Re-runs the pytest module `test_file` in a child pytest with KILN_CLIENT_SUITE=<its basename> (the module then
    imports its clients and defines its tests) and fails with the child's failures. For suites whose clients clash
    with test_grpc_support.py's generated stubs in one process (protobuf package `inference`)."""
    env = dict(os.environ, KILN_CLIENT_SUITE=os.path.basename(test_file))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", test_file,
                        "--kiln", kiln_bin], env=env, capture_output=True, text=True, timeout=timeout,
                       cwd=os.path.dirname(os.path.abspath(test_file)))
    print(r.stdout[-3000:])
    assert r.returncode == 0, f"child pytest rc={r.returncode}:\n{r.stdout[-12000:]}\n{r.stderr[-3000:]}"
