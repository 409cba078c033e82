"""Table rows, geo-means and the summary printed by bench/cpu_compare.py (rows are plain dicts, see there)."""
import math

COLS = [("model", 24, "s"), ("batch", 5, "s"), ("thr", 3, "s"), ("kiln inf/s", 10, ".1f"), ("ort inf/s", 10, ".1f"),
        ("ratio", 6, ".3f"), ("kiln ms", 9, ".3f"), ("ort ms", 9, ".3f"), ("kiln MB", 7, ".0f"), ("ort MB", 7, ".0f"),
        ("max abs", 8, ".2g"), ("max rel", 8, ".2g"), ("tol", 6, ".0e"), ("ok", 3, "s")]
KEYS = ["model", "batch", "threads", "kiln_ips", "ort_ips", "ratio", "kiln_ms", "ort_ms", "kiln_mb", "ort_mb",
        "max_abs", "max_rel", "tol", "ok"]


def _cell(value, width, fmt):
    if value is None:
        return "-".rjust(width)
    if isinstance(value, bool):
        return ("yes" if value else "NO").rjust(width)
    if fmt == ".1f" and abs(value) < 10:  # throughputs: keep 3 significant digits for slow engines
        return format(value, ".3g").rjust(width)
    if fmt == "s":
        return str(value).ljust(width) if width >= 10 else str(value).rjust(width)
    return format(value, fmt).rjust(width)


def print_header(with_ref):
    head = " ".join(name.ljust(w) if w >= 10 and f == "s" else name.rjust(w) for name, w, f in COLS)
    print(head + ("   ref inf/s" if with_ref else "") + "  note", flush=True)


def print_row(row, with_ref):
    line = " ".join(_cell(row.get(k), w, f) for k, (_, w, f) in zip(KEYS, COLS))
    if with_ref:
        line += " " + _cell(row.get("ref_ips"), 11, ".2f")
    note = row.get("error") or row.get("check") or ""
    print(line + ("  " + note if note else ""), flush=True)


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def summarize(rows, thread_counts):
    """Per thread count (and per batch-1 / throughput-batch rows): geo-mean ratio, n, worst row, rows < 0.5."""
    out = {"per_threads": {}, "rows_with_ratio": 0, "outputs_ok": 0, "errors": 0}
    for t in thread_counts:
        sel = [r for r in rows if r.get("threads") == t and r.get("ratio")]
        worst = min(sel, key=lambda r: r["ratio"]) if sel else None
        out["per_threads"][str(t)] = {
            "geomean": geomean([r["ratio"] for r in sel]), "n": len(sel),
            "geomean_batch1": geomean([r["ratio"] for r in sel if r["batch"] == 1]),
            "geomean_tput": geomean([r["ratio"] for r in sel if r["batch"] != 1]),
            "below_0_5": sorted({r["model"] for r in sel if r["ratio"] < 0.5}),
            "worst": f"{worst['model']} b{worst['batch']} {worst['ratio']:.3f}" if worst else None}
    out["rows_with_ratio"] = sum(1 for r in rows if r.get("ratio"))
    out["outputs_ok"] = sum(1 for r in rows if r.get("ok"))
    out["errors"] = sum(1 for r in rows if r.get("error"))
    out["geomean_all"] = geomean([r["ratio"] for r in rows if r.get("ratio")])
    return out


def _fmt(x):
    return "-" if x is None else f"{x:.3f}"


def print_summary(s, rows):
    print()
    for t, g in s["per_threads"].items():
        print(f"threads {t:>2}: geo-mean Kiln/ORT {_fmt(g['geomean'])} over {g['n']} rows "
              f"(batch 1: {_fmt(g['geomean_batch1'])}, throughput batch: {_fmt(g['geomean_tput'])}); "
              f"worst {g['worst'] or '-'}; below 0.5: {', '.join(g['below_0_5']) or 'none'}")
    print(f"all rows: geo-mean {_fmt(s['geomean_all'])}; outputs ok {s['outputs_ok']}/{s['rows_with_ratio']}; "
          f"rows with an error: {s['errors']}")
    bad = [r for r in rows if r.get("ratio") and not r.get("ok")]
    for r in bad:
        print(f"  output mismatch: {r['model']} b{r['batch']} t{r['threads']}: {r.get('check', '')}")
