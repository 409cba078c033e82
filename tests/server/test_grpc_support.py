"""Shared helpers (no tests) for the gRPC and kiln perf suites: tiny model repositories, a `kiln serve`
subprocess on free ports, and Python stubs generated from our kserve_v2.proto with grpcio-tools."""
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import onnx
from onnx import TensorProto, helper

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_DIR = os.path.join(REPO, "src", "server", "grpc")

# An input name with ':' and '/' as PyTorch exports produce; kiln perf's --shape must split at the last ':'.
ODD_INPUT = "enc/ids:0"


def kiln_binary(config):
    """--kiln PATH when the folder's conftest defines it, else $KILN_BIN, else build/bin/kiln."""
    path = None
    try:
        path = config.getoption("--kiln")
    except ValueError:
        path = None
    path = path or os.environ.get("KILN_BIN") or os.path.join(REPO, "build", "bin", "kiln")
    return os.path.abspath(path)


def _save(model, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(model, path)


def make_repository(root):
    """add_one: FP32 [-1,4] + 1, batching (max_batch_size 8, dynamic batching).
    odd_names: FP32 input 'enc/ids:0' with two dynamic dims, no batching; output = input * 2."""
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    g = helper.make_graph([helper.make_node("Add", ["INPUT0", "one"], ["OUTPUT0"])], "add_one",
                          [helper.make_tensor_value_info("INPUT0", TensorProto.FLOAT, ["N", 4])],
                          [helper.make_tensor_value_info("OUTPUT0", TensorProto.FLOAT, ["N", 4])], [one])
    _save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]),
          os.path.join(root, "add_one", "1", "model.onnx"))
    with open(os.path.join(root, "add_one", "config.pbtxt"), "w") as f:
        f.write('name: "add_one"\nmax_batch_size: 8\n'
                'input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
                'output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
                'dynamic_batching { max_queue_delay_microseconds: 200 }\n')

    two = helper.make_tensor("two", TensorProto.FLOAT, [1], [2.0])
    g = helper.make_graph([helper.make_node("Mul", [ODD_INPUT, "two"], ["out:0"])], "odd_names",
                          [helper.make_tensor_value_info(ODD_INPUT, TensorProto.FLOAT, ["a", "b"])],
                          [helper.make_tensor_value_info("out:0", TensorProto.FLOAT, ["a", "b"])], [two])
    _save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]),
          os.path.join(root, "odd_names", "1", "model.onnx"))
    with open(os.path.join(root, "odd_names", "config.pbtxt"), "w") as f:
        f.write('name: "odd_names"\nmax_batch_size: 0\n'
                f'input [ {{ name: "{ODD_INPUT}" data_type: TYPE_FP32 dims: [ -1, -1 ] }} ]\n'
                'output [ { name: "out:0" data_type: TYPE_FP32 dims: [ -1, -1 ] } ]\n')
    # tight_queue: add_one with a queue of one request held up to 2 s, so that concurrent requests overflow it.
    _save(onnx.load(os.path.join(root, "add_one", "1", "model.onnx")), os.path.join(root, "tight_queue", "1",
                                                                                    "model.onnx"))
    with open(os.path.join(root, "tight_queue", "config.pbtxt"), "w") as f:
        f.write('name: "tight_queue"\nmax_batch_size: 8\n'
                'input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
                'output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
                'dynamic_batching { preferred_batch_size: [ 8 ] max_queue_delay_microseconds: 2000000\n'
                '  default_queue_policy { max_queue_size: 1 } }\n')
    return root


class Server:
    """`kiln serve` on free ports (--http-port 0 --grpc-port 0 --metrics-port 0); ports read from its JSON logs."""

    def __init__(self, kiln, repo, extra=()):
        self.kiln = kiln
        self.log = []
        cmd = [kiln, "serve", "--model-repository", repo, "--http-port", "0", "--grpc-port", "0",
               "--metrics-port", "0", *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.http_port = self.grpc_port = None
        deadline = time.time() + 120
        while time.time() < deadline and (self.http_port is None or self.grpc_port is None):
            if self.proc.poll() is not None:
                raise RuntimeError("kiln serve exited early:\n" + "\n".join(self.log[-30:]))
            self._scan_ports()
            time.sleep(0.05)
        if self.http_port is None or self.grpc_port is None:
            self.stop()
            raise RuntimeError("kiln serve did not log its ports:\n" + "\n".join(self.log[-30:]))
        self.wait_ready()

    def _read(self):
        for line in self.proc.stdout:
            self.log.append(line.rstrip("\n"))

    def _scan_ports(self):
        for line in list(self.log):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if not isinstance(rec, dict):
                continue
            text = " ".join(str(v) for v in rec.values()).lower()
            for key in ("http_port", "grpc_port"):
                if key in rec:
                    setattr(self, key, int(rec[key]))
            if "port" in rec:
                if "grpc" in text:
                    self.grpc_port = int(rec["port"])
                elif "http" in text and "metrics" not in text:
                    self.http_port = int(rec["port"])

    def wait_ready(self, timeout=120):
        import requests
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.http_port}/v2/health/ready", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("kiln serve never became ready:\n" + "\n".join(self.log[-30:]))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def grpc_stubs(out_dir):
    """Generates kserve_v2_pb2(_grpc) from OUR proto into out_dir and imports them."""
    from grpc_tools import protoc
    import grpc_tools
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    rc = protoc.main(["protoc", f"-I{PROTO_DIR}", f"-I{include}", f"--python_out={out_dir}",
                      f"--grpc_python_out={out_dir}", os.path.join(PROTO_DIR, "kserve_v2.proto")])
    assert rc == 0, "grpc_tools.protoc failed on kserve_v2.proto"
    sys.path.insert(0, str(out_dir))
    import kserve_v2_pb2
    import kserve_v2_pb2_grpc
    return kserve_v2_pb2, kserve_v2_pb2_grpc


def raw_f32(array):
    return np.ascontiguousarray(array, dtype=np.float32).tobytes()
