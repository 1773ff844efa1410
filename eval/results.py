"""Per-codec results files in CompressAI's layout, plus a ``meta`` block, and model-card updates.

    {"name", "description",
     "results": {"bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...], "ms-ssim": [...],
                 "encoding_time": [...], "decoding_time": [...], "setting": [...]},
     "per_image": {"kodim01.png": {"bpp": [...], "bytes": [...], "psnr-rgb": [...], ...}},
     "meta": {versions, commands, machine, dataset, modality, rate_key, metrics, ...}}

The rate is under the modality's key (``bpp``; point clouds ``bits_per_point``), the metrics under
theirs (images ``psnr-rgb``, ``ms-ssim-rgb``; point clouds ``d1-psnr``, ``d2-psnr``, ``max-error``,
...), the per-sample points under ``per_<unit>`` (``per_image``, ``per_frame``). Points are means
over the samples at each setting, ordered by rate. For images ``ms-ssim-rgb`` is the key of
CompressAI's published files (and of ``ncodec bdrate --metric ms-ssim``); ``ms-ssim`` holds the
same values under the short name.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ncodec.media.atomic import write_bytes_atomic

ALIASES = {"ms-ssim-rgb": "ms-ssim"}  # results keys also written under a short name
# Learned codecs only (absent or None for baselines): entropy-coding share of the times, model's estimate.
LEARNED_KEYS = ("encoding_entropy_time", "decoding_entropy_time", "bits_estimated")


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cpus": os.cpu_count(),
            "python": sys.version.split()[0]}


def library_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("ncodec", "numpy", "pillow", "torch", "pytorch-msssim", "scipy"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    try:
        root = Path(__file__).resolve().parents[1]
        out["ncodec_commit"] = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                                              capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        out["ncodec_commit"] = None
    return out


def codec_results(name: str, info: dict, ev) -> dict:
    """One codec's results dict from its per-sample records."""
    modality, codec = ev.modality, info["codec"]
    unit, rate_key, count_key = modality.eval_unit, modality.rate_key, modality.count_key
    samples = [s.name for s in ev.samples]
    metric_keys = [m.key for m in modality.eval_metrics]
    by_key = {(r[unit], r["label"]): r for r in info["records"]}
    labels = [codec.label(s) for s in info["settings"]]
    table = {label: [by_key[(s, label)] for s in samples] for label in labels}
    mean_rate = {label: _mean([r[rate_key] for r in rows]) for label, rows in table.items()}
    order = sorted(range(len(labels)), key=lambda i: mean_rate[labels[i]])
    labels = [labels[i] for i in order]
    settings = [info["settings"][i] for i in order]
    results = {"setting": settings, rate_key: [mean_rate[l] for l in labels]}
    for key in metric_keys + ["encoding_time", "decoding_time"]:
        results[key] = [_mean([r.get(key) for r in table[l]]) for l in labels]
    for key, alias in ALIASES.items():
        if key in results:
            results[alias] = list(results[key])
    for key in LEARNED_KEYS:
        if all(r.get(key) is not None for l in labels for r in table[l]):
            results[key] = [_mean([r[key] for r in table[l]]) for l in labels]
    if "bits_estimated" in results:  # file bits over the model's estimate, summed over the samples
        results["real_over_estimated_bits"] = [
            sum(r["bytes"] * 8 for r in table[l]) / sum(r["bits_estimated"] for r in table[l]) for l in labels]
    per_keys = [rate_key, "bytes"] + metric_keys + ["encoding_time", "decoding_time"]
    per_sample = {s: {key: [table[l][i].get(key) for l in labels] for key in per_keys}
                  for i, s in enumerate(samples)}
    for i, s in enumerate(samples):
        per_sample[s][count_key] = ev.samples[i].count
    meta = {"kind": info["kind"], "published": False, "version": info["version"],
            "modality": modality.name, "rate_key": rate_key, "rate_unit": modality.eval_rate_label or rate_key,
            "metrics": {m.key: m.label for m in modality.eval_metrics},
            "setting_name": codec.setting_name, "labels": labels,
            "commands": {l: codec.command(s) for l, s in zip(labels, settings)},
            "dataset": str(ev.dataset), f"{unit}s": len(samples), "skipped_files": len(ev.skipped_files),
            "computed": info["computed"], "cached": len(info["records"]) - info["computed"],
            "jobs": ev.jobs, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": ev.command,
            "libraries": library_versions(), "machine": machine(),
            "timing_note": f"seconds per {unit}, measured with {ev.jobs} parallel job(s)"}
    return {"name": name, "description": codec.description, "results": results, f"per_{unit}": per_sample,
            "meta": meta}


def write_json(path: Path, data: dict) -> None:
    write_bytes_atomic(path, (json.dumps(data, indent=2) + "\n").encode(), force=True)


def write_all(ev, out: Path) -> dict[str, dict]:
    """``out/<codec>.json`` for every measured codec and every reference; returns them by name."""
    everything = {name: codec_results(name, info, ev) for name, info in ev.codecs.items()}
    everything.update(ev.references)
    for name, data in everything.items():
        write_json(Path(out) / f"{name}.json", data)
    return everything


def update_card(name: str, data: dict, folder: Path | None = None) -> Path:
    """Store measured mean RD points in ``checkpoints/<name>.json``'s card (``rd_points``)."""
    from ncodec.codecs.checkpoint import CHECKPOINT_DIR, card_path, set_card_field

    folder = folder or CHECKPOINT_DIR
    card = json.loads(card_path(name, folder).read_text())
    r, meta = data["results"], data["meta"]
    rate_key = meta.get("rate_key", "bpp")
    metric_keys = list(meta.get("metrics") or ("psnr-rgb", "ms-ssim-rgb"))
    unit = next((k for k in ("images", "frames", "samples") if k in meta), "images")
    rd_points = {
        "dataset": f"{Path(meta['dataset']).name} ({meta.get(unit)} {unit})", "measured": meta["date"][:10],
        "command": meta["command"], "model_id": card.get("model_id"),
        meta.get("setting_name", "quality"): r["setting"], rate_key: [round(v, 4) for v in r[rate_key]],
    }
    for key in metric_keys:
        digits = 3 if "psnr" in key else 5
        rd_points[key] = [None if v is None else round(v, digits) for v in r.get(key, [])]
    return set_card_field(name, "rd_points", rd_points, folder)
