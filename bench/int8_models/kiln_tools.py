# The kiln CLI (build, calibrate, bench: timed child processes) and engine/ONNX Runtime runners for int8_accuracy.py.
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np


class KilnError(RuntimeError):
    """A kiln command failed; the message holds the command and the last lines of its output."""


class KilnCli:
    """Runs `kiln` subcommands as child processes with `threads` intra-op threads (KILN_NUM_THREADS and
    OMP_NUM_THREADS, also for calibration and the guard's trial runs) and measures their wall time."""

    def __init__(self, kiln, threads, log_dir):
        self.threads = threads
        self.log_dir = log_dir
        source = os.path.abspath(kiln)
        for _ in range(30):                 # a build that is relinking it makes it unexecutable for a moment
            if os.access(source, os.X_OK):
                break
            time.sleep(2)
        if not os.access(source, os.X_OK):
            raise KilnError(f"kiln binary not found at {source} (build it, or pass --kiln)")
        # A private copy: a rebuild of build/bin/kiln during the run must not mix two binaries (or fail to start).
        self.kiln = os.path.join(log_dir, "kiln")
        shutil.copy2(source, self.kiln)

    def run(self, tag, args, timeout=900):
        """Runs `kiln ARGS`; returns (seconds, stdout + stderr). Raises KilnError with the command on failure."""
        env = dict(os.environ, KILN_NUM_THREADS=str(self.threads), OMP_NUM_THREADS=str(self.threads))
        cmd = [self.kiln] + [str(a) for a in args]
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        seconds = time.perf_counter() - start
        text = proc.stdout + proc.stderr
        with open(os.path.join(self.log_dir, tag + ".log"), "w") as f:
            f.write(" ".join(cmd) + "\n" + text)
        if proc.returncode != 0:
            tail = "\n".join(text.strip().splitlines()[-3:])
            raise KilnError(f"`kiln {' '.join(str(a) for a in args)}` failed (exit {proc.returncode}): {tail}")
        return seconds, text

    def version(self):
        """`kiln --version`'s line."""
        return subprocess.run([self.kiln, "--version"], capture_output=True, text=True).stdout.strip()

    def build(self, tag, model, engine, extra=()):
        seconds, text = self.run(tag, ["build", model, "--device", "cpu", "-o", engine, *extra])
        return seconds, text

    def bench(self, tag, engine, shapes, duration):
        """Median latency (ms) of `kiln bench` (random inputs of the given shapes, `threads` threads)."""
        out = os.path.join(self.log_dir, tag + ".json")
        args = ["bench", engine, "--duration", duration, "--threads", self.threads, "--json", out]
        if shapes:
            args += ["--shapes", ",".join(f"{k}:{'x'.join(str(d) for d in v)}" for k, v in shapes.items())]
        self.run(tag, args)
        with open(out) as f:
            return json.load(f)["latency_ms"]["median"]


def import_kiln(python_dir):
    """Imports Kiln's Python module from the main build (build/python) or an installed package."""
    if python_dir and os.path.isdir(python_dir):
        sys.path.insert(0, os.path.abspath(python_dir))
    try:
        import kiln  # noqa: F401
    except ImportError as exc:
        raise KilnError(f"cannot import Kiln's Python module from {python_dir} ({exc}); build it with "
                        "scripts/build.sh or pass --kiln-python") from None
    return sys.modules["kiln"]


class EngineRunner:
    """Runs a Kiln engine file on {input: array} samples through the Python module (one context)."""

    def __init__(self, kiln_module, path, threads):
        self.engine = kiln_module.Engine.load(path)
        self.ctx = self.engine.create_context(threads=threads)
        self.output_names = [d.name for d in self.engine.outputs]

    def __call__(self, sample):
        return {k: np.asarray(v) for k, v in self.ctx.run(sample).items()}


class OrtRunner:
    """ONNX Runtime FP32 (CPU EP, `threads` threads) with the same call shape as EngineRunner."""

    def __init__(self, path, threads):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        self.output_names = [o.name for o in self.session.get_outputs()]

    def __call__(self, sample):
        return dict(zip(self.output_names, self.session.run(None, sample)))
