#!/usr/bin/env python3
"""Runs `kiln conformance` over the ONNX node test suite and checks the result against the
expected-failures list: any case that fails but is not listed fails this test, and so does a listed case
that now passes (remove it: the list may only shrink). Prints the counts and the pass rate.

Cases run in chunks, each in its own kiln process, so a crash is pinned to one case instead of ending the run.
"""
import argparse
import os
import re
import subprocess
import sys
import time

LINE = re.compile(r"^(PASS|FAIL|UNSUPPORTED) (\S+)(?: (.*))?$")


def run_chunk(kiln, dirs, extra, timeout):
    try:
        p = subprocess.run([kiln, "conformance", *extra, *dirs], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    results = {}
    for line in p.stdout.splitlines():
        m = LINE.match(line)
        if m:
            results[m.group(2)] = (m.group(1), m.group(3) or "")
    if p.returncode not in (0, 1) or len(results) != len(dirs):
        return None  # crashed or hung part-way
    return results


def run_all(kiln, cases, extra, chunk=40):
    results = {}
    for i in range(0, len(cases), chunk):
        part = cases[i:i + chunk]
        r = run_chunk(kiln, part, extra, timeout=600)
        if r is None:
            for c in part:  # isolate the culprit
                one = run_chunk(kiln, [c], extra, timeout=120)
                name = os.path.basename(c)
                results[name] = one[name] if one else ("FAIL", "crashed or timed out")
        else:
            results.update(r)
    return results


def load_expected(path):
    expected = {}
    if not os.path.exists(path):
        return expected
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition(" ")
        expected[name] = reason.strip()
    return expected


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--suite", required=True, help="onnx/backend/test/data/node")
    ap.add_argument("--expected", required=True, action="append",
                    help="expected_failures.txt; repeat to add a precision's own list (their union is expected)")
    ap.add_argument("--filter", default="", help="regex on case names")
    ap.add_argument("--write-expected", action="store_true", help="rewrite the list from this run")
    ap.add_argument("--min-pass-rate", type=float, default=0.90)
    ap.add_argument("extra", nargs="*", help="extra flags for kiln conformance")
    args = ap.parse_args()

    cases = sorted(os.path.join(args.suite, d) for d in os.listdir(args.suite)
                   if os.path.exists(os.path.join(args.suite, d, "model.onnx")) and re.search(args.filter, d))
    t0 = time.time()
    results = run_all(args.kiln, cases, args.extra)
    elapsed = time.time() - t0
    passed = sorted(c for c, (v, _) in results.items() if v == "PASS")
    failed = sorted(c for c, (v, _) in results.items() if v == "FAIL")
    unsupported = sorted(c for c, (v, _) in results.items() if v == "UNSUPPORTED")
    expected = {}
    for path in args.expected:
        expected.update(load_expected(path))

    if args.write_expected:
        with open(args.expected[-1], "w") as f:
            f.write("# ONNX node test cases the reference CPU backend does not pass, with the reason.\n"
                    "# This list may only shrink. Format: <case> <VERDICT>: <reason>\n")
            for c in sorted(failed + unsupported):
                v, why = results[c]
                f.write(f"{c} {v}: {why[:200]}\n")
        print(f"wrote {len(failed) + len(unsupported)} entries to {args.expected[-1]}")

    unexpected = [c for c in failed + unsupported if c not in expected]
    fixed = [c for c in passed if c in expected]
    for c in unexpected:
        print(f"UNEXPECTED {results[c][0]} {c} {results[c][1]}")
    # Under another precision's budget a listed fp32 failure may pass because the budget is looser (test_adam_multiple
    # under bf16): that says nothing about the list, so it is reported but does not fail the run.
    looser = "--precision" in args.extra
    for c in fixed:
        print(f"{'passes under this budget' if looser else 'NOW PASSING (remove from the list)'} {c}")
    if looser:
        fixed = []
    total = len(results)
    rate = len(passed) / total if total else 0.0
    print(f"conformance: {len(passed)} passed, {len(failed)} failed, {len(unsupported)} unsupported of {total} "
          f"({100 * rate:.1f}% pass) in {elapsed:.0f} s")
    ok = not unexpected and (args.filter or rate >= args.min_pass_rate) and (args.write_expected or not fixed)
    if not args.filter and rate < args.min_pass_rate:
        print(f"pass rate {100 * rate:.1f}% is below the required {100 * args.min_pass_rate:.0f}%")
    print(f"{1 if ok else 0} passed, {0 if ok else 1} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
