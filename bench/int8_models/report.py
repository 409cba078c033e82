# The text table of bench/int8_accuracy.py's results (one row per model, then per-model notes).


def _num(value, digits=4):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _headline(rec, key):
    """The headline output metric of the 'int8' or 'guard' result, e.g. top1 0.9583 or cos 0.99812."""
    if key not in rec:
        return "-"
    output, metric = rec["headline"]
    value = rec[key]["outputs"][output].get(metric)
    label = {"top1": "top1", "cosine_min": "cos", "rel_l2_max": "rl2"}[metric]
    return f"{label} {_num(value, 5 if metric == 'cosine_min' else 4)}"


def _task(rec, key):
    if key not in rec:
        return "-"
    return _num(rec[key]["task"].get(rec["task_headline"]), 3)


def format_table(doc):
    header = ["model", "family", "calib/eval", "budget", "int8", "int8+guard", "task int8", "task guard",
              "guard int8 layers", "calib s", "build s", "guard s", "fp32 ms", "int8 ms", "guard ms", "fp32~ORT cos"]
    rows = []
    for r in doc["results"]:
        if "error" in r:
            rows.append([r["model"], r["family"], "-", "-", "kiln failed" if r.get("kiln_failed") else "ERROR", "-", "-", "-", "-", "-", "-", "-", "-", "-",
                         "-", "-"])
            continue
        g = r.get("guard_report")
        layers = f"{g['int8_layers']}/{g['layers_total']}" if g and g["met"] else (
            f"not met ({g['layers_total']})" if g else "-")
        lat = r.get("latency_ms", {})
        head_out = r["headline"][0]
        rows.append([r["model"], r["family"], f"{r['samples']['calib']}/{r['samples']['eval']}", r["budget"],
                     _headline(r, "int8"), _headline(r, "guard"), _task(r, "int8"), _task(r, "guard"), layers,
                     _num(r["calibration_s"], 1), _num(r["int8_build_s"], 1), _num(r.get("guard_build_s"), 1),
                     _num(lat.get("fp32"), 2), _num(lat.get("int8"), 2), _num(lat.get("guard"), 2),
                     _num(r["fp32_vs_ort"][head_out]["cosine_min"], 6)])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows]
    out.append("")
    out.append(f"{doc['cpu']}, {doc['threads']} thread(s); {doc['kiln_version']}; total {doc['total_s']:.0f} s")
    for r in doc["results"]:
        out.append("")
        if "error" in r:
            out.append(f"{r['model']}: ERROR {r['error']}")
            continue
        out.append(f"{r['model']} ({r['package']}): {r['task']}; inputs: {r['inputs']}")
        out.append(f"  budget {r['budget']}: {r['budget_why']}; task metric: {r['task_headline']} = "
                   f"{r['task_note']}")
        if "fp8_error" in r:
            out.append(f"  fp8       : not built: {r['fp8_error']}")
        for key, label in (("int8", "int8      "), ("guard", "int8+guard"), ("fp8", "fp8       ")):
            if key not in r:
                continue
            per_out = "; ".join(
                f"{name}: cos min {_num(m['cosine_min'], 5)} mean {_num(m['cosine_mean'], 5)}, rel_l2 max "
                f"{_num(m['rel_l2_max'], 4)}" + (f", top1 {_num(m['top1'], 4)} of {m['top1_rows']} rows"
                                                 if "top1" in m else "")
                for name, m in r[key]["outputs"].items())
            task = ", ".join(f"{k} {_num(v, 4)}" for k, v in r[key]["task"].items())
            out.append(f"  {label}: {per_out}; task: {task}")
        g = r.get("guard_report")
        if g:
            fp32 = ", ".join(g["fp32_layers"] or []) or "none"
            t = g["timings_s"]
            out.append(f"  guard: met={g['met']}, {g['int8_layers']}/{g['layers_total']} layers int8, fp32 layers: "
                       f"{fp32}; {g['trials']} trials on {g['held_back']} held-back samples "
                       f"({g['calibration_samples']} calibrate); calibration {_num(t.get('calibration'), 2)} s, "
                       f"sensitivity {_num(t.get('sensitivity'), 2)} s, search {_num(t.get('search'), 2)} s, "
                       f"total {_num(t.get('total'), 2)} s")
        if "guard_error" in r:
            out.append(f"  guard build failed: {r['guard_error']}")
        for name, m in r["fp32_vs_ort"].items():
            out.append(f"  fp32 vs ORT {name}: cos min {_num(m['cosine_min'], 7)}, rel_l2 max {_num(m['rel_l2_max'], 6)}")
    return "\n".join(out)
