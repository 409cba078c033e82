"""Worker child processes of bench/zoo_gpu.py: start with a log file, read JSON event lines, stop by process group.

Each child runs `python3 -m zoo.<worker>` in its own session (its own process group, so torch.compile's compile
workers stop with it), with bench/ on PYTHONPATH; stderr and non-JSON stdout go to a log file in the workdir.
"""
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Child:
    def __init__(self, worker, argv, log_path, env=None, stdin=False):
        e = dict(os.environ, **(env or {}))
        e["PYTHONPATH"] = BENCH + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
        e["PYTHONUNBUFFERED"] = "1"
        self.log_path, self.started = log_path, time.perf_counter()
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", f"zoo.{worker}"] + argv, stdout=subprocess.PIPE,
                                     stderr=self.log, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     text=True, env=e, cwd=BENCH, start_new_session=True)
        self.events = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            s = line.strip()
            if s.startswith("{") and s.endswith("}"):
                try:
                    self.events.put(json.loads(s))
                    continue
                except ValueError:
                    pass
            self.log.write(line)
            self.log.flush()
        self.events.put(None)  # end of output

    def age(self):
        return time.perf_counter() - self.started

    def running(self):
        return self.proc.poll() is None

    def next_event(self, timeout):
        """The next JSON event, or None when the child ended first or `timeout` seconds passed."""
        try:
            return self.events.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None

    def send(self, line):
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def stop(self, grace=5.0):
        """Ends the child's process group (SIGTERM, then SIGKILL after `grace` s); returns its exit status."""
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(self.proc.pid, sig)
                except (ProcessLookupError, PermissionError):
                    break
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.log.close()
        return self.proc.poll()

    def reason(self):
        """One line on why the child ended: its exit status or signal, and the last line of its log."""
        rc = self.proc.poll()
        what = "still running" if rc is None else (f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}")
        try:
            with open(self.log_path) as f:
                lines = [ln.strip() for ln in f if ln.strip()]
        except OSError:
            lines = []
        return f"{what}" + (f": {lines[-1][:200]}" if lines else "")
