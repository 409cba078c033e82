#!/usr/bin/env python3
"""Where a running process's threads spend their time, from /proc alone (no perf, gdb or root needed).

Samples every thread of the newest process whose command line contains --match, every --interval seconds for
--duration seconds, and prints per thread name: CPU share (user+system), the states seen (R running, S sleeping,
D uninterruptible), the blocking syscalls (futex, ioctl = driver calls, poll/epoll, mmap ...) and kernel wait
channels, plus the process's minor/major page faults and context switches per second. Used to diagnose serving
stalls on the GPU machine, e.g.:
  python3 scripts/proc_sample.py --match "kiln serve" --delay 20 --duration 10 --out sample.txt &
"""
import argparse
import collections
import os
import sys
import time

SYSCALLS = {0: "read", 1: "write", 7: "poll", 9: "mmap", 10: "mprotect", 11: "munmap", 16: "ioctl", 23: "select",
            24: "sched_yield", 35: "nanosleep", 202: "futex", 230: "clock_nanosleep", 232: "epoll_wait",
            281: "epoll_pwait", 271: "ppoll", 45: "recvfrom", 44: "sendto", 46: "sendmsg", 47: "recvmsg",
            257: "openat", 3: "close", 28: "madvise", 56: "clone", 435: "clone3", 61: "wait4", 72: "fcntl"}


def find_pid(match):
    best = None
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            cmd = open(f"/proc/{p}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if match in cmd and "proc_sample" not in cmd:
            best = max(best or 0, int(p))
    return best


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def sample(pid):
    out = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        stat = read(f"/proc/{pid}/task/{t}/stat")
        if not stat:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        comm = stat[stat.find("(") + 1:stat.rfind(")")]
        state, ticks = rest[0], int(rest[11]) + int(rest[12])
        sc = read(f"/proc/{pid}/task/{t}/syscall").split()
        call = "running" if not sc or sc[0] == "running" else SYSCALLS.get(int(sc[0]), "sys" + sc[0]) if sc[0].lstrip("-").isdigit() else sc[0]
        wchan = read(f"/proc/{pid}/task/{t}/wchan").strip()
        wchan = "-" if wchan in ("", "0") else wchan
        out[t] = (comm, state, ticks, call, wchan)
    stat = read(f"/proc/{pid}/stat")
    rest = stat[stat.rfind(")") + 2:].split()
    ctx = sum(int(l.split()[1]) for t in os.listdir(f"/proc/{pid}/task")
              for l in read(f"/proc/{pid}/task/{t}/status").splitlines() if "ctxt_switches" in l)
    return out, int(rest[7]), int(rest[9]), ctx


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--match", required=True)
    ap.add_argument("--delay", type=float, default=0, help="seconds to wait before sampling")
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--out", default="-")
    a = ap.parse_args()
    time.sleep(a.delay)
    pid = find_pid(a.match)
    if not pid:
        sys.exit(f"proc_sample: no process matches '{a.match}'")
    hz = os.sysconf("SC_CLK_TCK")
    first, minflt0, majflt0, ctx0 = sample(pid)
    t0 = time.time()
    seen = collections.defaultdict(collections.Counter)  # thread name -> Counter of "state call wchan"
    samples = 0
    while time.time() - t0 < a.duration:
        time.sleep(a.interval)
        try:
            cur, minflt, majflt, ctx = sample(pid)
        except OSError:
            break
        samples += 1
        for comm, state, _, call, wchan in cur.values():
            seen[comm][f"{state} {call} {wchan}"] += 1
    dt = time.time() - t0
    cpu = collections.Counter()
    count = collections.Counter()
    for t, (comm, _, ticks, _, _) in cur.items():
        cpu[comm] += (ticks - first.get(t, (0, 0, ticks))[2]) / hz / dt
        count[comm] += 1
    lines = [f"pid {pid} ({read(f'/proc/{pid}/comm').strip()}), {samples} samples over {dt:.1f} s; "
             f"minor faults {(minflt - minflt0) / dt:,.0f}/s, major {(majflt - majflt0) / dt:,.0f}/s, "
             f"context switches {(ctx - ctx0) / dt:,.0f}/s; load {read('/proc/loadavg').strip()}"]
    for comm in sorted(seen, key=lambda c: -cpu[c]):
        total = sum(seen[comm].values())
        top = ", ".join(f"{k} {v / total:.0%}" for k, v in seen[comm].most_common(5))
        lines.append(f"{comm} x{count[comm]}: cpu {cpu[comm]:.2f} cores; {top}")
    text = "\n".join(lines) + "\n"
    if a.out == "-":
        sys.stdout.write(text)
    else:
        with open(a.out, "a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
