"""Child-process helpers for the CPU suite: run a command with a timeout and read its peak RSS; probe kiln's CLI.

run_child() polls the child's VmHWM (its own peak RSS since exec) while it runs; ru_maxrss from os.wait4 would
include the pages of this (large) parent that the child had before exec.
"""
import functools
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass


@dataclass
class ChildResult:
    rc: int
    out: str
    err: str
    peak_mb: float
    seconds: float
    timed_out: bool = False

    def one_line_error(self):
        """The last non-empty line of stderr (else stdout): kiln prints '<cmd>: error: <what>' there."""
        if self.timed_out:
            return f"timed out after {self.seconds:.0f} s"
        for text in (self.err, self.out):
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            if lines:
                return lines[-1][:300]
        return f"exit status {self.rc}"


def vm_hwm_kb(pid):
    """The process's peak RSS so far (VmHWM, kB), 0 when unreadable. Unlike ru_maxrss it starts afresh at exec, so a
    child forked from a large parent (this script holds models and ORT sessions) is not charged the parent's pages."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_child(cmd, timeout, env=None):
    """Runs cmd (a list); returns ChildResult with the child's exit status, output and peak RSS in MB."""
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, env=env)
        timed_out = False
        hwm_kb = 0
        while True:
            hwm_kb = max(hwm_kb, vm_hwm_kb(p.pid))
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                break
            if time.perf_counter() - t0 > timeout:
                timed_out = True
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - t0
        rc = os.waitstatus_to_exitcode(status)
        p.returncode = rc  # already reaped: keep Popen from waiting again
        fo.seek(0)
        fe.seek(0)
        return ChildResult(rc, fo.read().decode(errors="replace"), fe.read().decode(errors="replace"),
                           (hwm_kb or ru.ru_maxrss) / 1024.0, seconds, timed_out)


@functools.lru_cache(maxsize=None)
def cli_help(kiln, sub):
    r = subprocess.run([kiln, sub, "--help"], capture_output=True, text=True)
    return r.stdout + r.stderr


def cli_has(kiln, sub, flag):
    """Whether `kiln SUB --help` lists FLAG (the CPU backend's options land while this suite is in use)."""
    return flag in cli_help(kiln, sub)


def thread_env(threads):
    """The environment for a child pinned to N intra-op threads (Kiln reads KILN_NUM_THREADS; OpenMP too)."""
    env = dict(os.environ)
    env["KILN_NUM_THREADS"] = str(threads)
    env["OMP_NUM_THREADS"] = str(threads)
    return env


def machine_info():
    """CPU model, usable cores and the ISA extensions that matter for the CPU backend."""
    model, flags = "unknown", set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = [f for f in ("avx2", "fma", "f16c", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8")
           if f in flags]
    return {"cpu": model, "cores": len(os.sched_getaffinity(0)), "isa": isa}
