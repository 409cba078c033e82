"""The zoo's results: one record per (row, batch), the markdown table, ratios, geo-means and the JSON file.

A record: {"row", "model", "exporter", "batch", "kind" ("latency" at batch 1, else "throughput"), "unit",
"kiln": {precision: {"value", "build_s", "vs_fp32", "pass", ...}}, "eager": {...}, "compile": {...},
"status": "ok" | "FAIL" | "skipped", "reason": one line}. Ratios are > 1 when Kiln is better (items/s over
items/s for throughput, PyTorch ms over Kiln ms for batch 1).
"""
import json
import math
import os
import time


def new_record(model, exporter, row, batch):
    kind = "latency" if batch == 1 else "throughput"
    return {"row": row, "model": model.name, "family": model.family, "exporter": exporter, "batch": batch,
            "kind": kind, "unit": "ms" if kind == "latency" else "items/s", "kiln": {}, "eager": {}, "compile": {},
            "status": "pending", "reasons": []}


def fail(rec, reason, status="FAIL"):
    """Marks a record failed (or skipped) with a one-line reason; the first failure's status wins."""
    if rec["status"] in ("pending", "ok"):
        rec["status"] = status
    rec["reasons"].append(reason.replace("\n", " ")[:300])


def ratio(rec, kiln_value, other):
    v = (rec.get(other) or {}).get("value")
    if not kiln_value or not v or kiln_value <= 0 or v <= 0:
        return None
    return kiln_value / v if rec["kind"] == "throughput" else v / kiln_value


def kiln_value(rec, precision):
    k = rec["kiln"].get(precision) or {}
    return k.get("value") if k.get("pass") else None


def fmt(v, unit):
    if v is None:
        return "-"
    return f"{v:.3f} ms" if unit == "ms" else f"{v:,.0f}/s"


def fmt_ratio(x):
    return "-" if x is None else f"{x:.2f}x"


def geomean(xs):
    xs = [x for x in xs if x]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def table(records, precisions):
    """Markdown table lines. Kiln values count only when the output check passed (a failed check shows as FAIL)."""
    head = "| row | batch | PyTorch eager | torch.compile |"
    sep = "|---|---|---|---|"
    for p in precisions:
        head += f" Kiln {p.upper()} | {p}/eager | {p}/compile |"
        sep += "---|---|---|"
    head += " build s | rel L2 Kiln (PyTorch FP16) | status |"
    sep += "---|---|---|"
    lines = [head, sep]
    for r in records:
        u = r["unit"]
        mode = (r.get("compile") or {}).get("mode")
        line = (f"| {r['row']} | {r['batch']} | {fmt((r.get('eager') or {}).get('value'), u)} | "
                f"{fmt((r.get('compile') or {}).get('value'), u)}{f' ({mode})' if mode and r['batch'] == 1 else ''} |")
        for p in precisions:
            k = r["kiln"].get(p) or {}
            v = "FAIL" if k.get("pass") is False else fmt(k.get("value"), u)
            line += (f" {v} | {fmt_ratio(ratio(r, kiln_value(r, p), 'eager'))} |"
                     f" {fmt_ratio(ratio(r, kiln_value(r, p), 'compile'))} |")
        k16 = r["kiln"].get(precisions[0]) or {}
        err = (k16.get("vs_fp32") or {}).get("rel_l2")
        t16 = (r.get("torch_vs_fp32") or {}).get("rel_l2")
        errs = "-" if err is None else f"{err:.3g}" + ("" if t16 is None else f" ({t16:.3g})")
        build = k16.get("build_s")
        status = r["status"] if not r["reasons"] else f"{r['status']}: {'; '.join(r['reasons'])}"
        line += f" {'-' if build is None else f'{build:.1f}'} | {errs} | {status} |"
        lines.append(line)
    return lines


def summary(records, precisions):
    """Geo-means of Kiln/eager and Kiln/compile per kind ("latency" = batch 1, "throughput"), over all rows and
    over legacy-export rows only; rows under 0.9x torch.compile; counts of failed and skipped rows."""
    out = {"precisions": {}, "failed": [], "skipped": []}
    for p in precisions:
        d = out["precisions"][p] = {}
        for kind in ("throughput", "latency"):
            for scope in ("all", "legacy"):
                rs = [r for r in records if r["kind"] == kind and (scope == "all" or r["exporter"] == "legacy")]
                for other in ("eager", "compile"):
                    xs = [ratio(r, kiln_value(r, p), other) for r in rs]
                    xs = [x for x in xs if x]
                    d[f"{kind}/{scope}/kiln_over_{other}"] = {"geomean": geomean(xs), "rows": len(xs)}
            d[f"{kind}/below_0.9x_compile"] = [
                f"{r['row']} b{r['batch']}: {ratio(r, kiln_value(r, p), 'compile'):.2f}x"
                for r in records if r["kind"] == kind and (ratio(r, kiln_value(r, p), "compile") or 1) < 0.9]
    out["failed"] = [f"{r['row']} b{r['batch']}: {'; '.join(r['reasons'])}" for r in records if r["status"] == "FAIL"]
    out["skipped"] = [f"{r['row']} b{r['batch']}" for r in records if r["status"] == "skipped"]
    return out


def summary_lines(s):
    lines = []
    for p, d in s["precisions"].items():
        for kind, label in (("throughput", "throughput batch"), ("latency", "batch 1")):
            parts = []
            for scope in ("all", "legacy"):
                for other in ("eager", "compile"):
                    g = d[f"{kind}/{scope}/kiln_over_{other}"]
                    value = "-" if g["geomean"] is None else f"{g['geomean']:.3f}"
                    parts.append(f"{scope} rows Kiln/{other} {value} ({g['rows']})")
            lines.append(f"geo-mean {p.upper()} {label}: " + ", ".join(parts))
            low = d[f"{kind}/below_0.9x_compile"]
            if low:
                lines.append(f"  below 0.9x torch.compile ({label}, {p}): " + ", ".join(low))
    lines.append(f"rows failed: {len(s['failed'])}, skipped: {len(s['skipped'])}")
    return lines


def save(path, payload):
    """Writes the JSON results (called after every step, so a run cut short keeps what it measured)."""
    payload = dict(payload, written=time.strftime("%Y-%m-%d %H:%M:%S"))
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=1, default=str)
    os.replace(tmp, path)
