"""Per-codec results files in CompressAI's layout, plus a ``meta`` block, and model-card updates.

    {"name", "description",
     "results": {"bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...], "ms-ssim": [...],
                 "encoding_time": [...], "decoding_time": [...], "setting": [...]},
     "per_image": {"kodim01.png": {"bpp": [...], "bytes": [...], "psnr-rgb": [...], ...}},
     "meta": {versions, commands, machine, dataset, ...}}

Points are means over the images at each setting, ordered by rate. ``ms-ssim-rgb`` is the key of
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

PER_IMAGE_KEYS = ("bpp", "bytes", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time")
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
    """One codec's results dict from its per-image records."""
    codec, images = info["codec"], [im.name for im in ev.images]
    by_key = {(r["image"], r["label"]): r for r in info["records"]}
    labels = [codec.label(s) for s in info["settings"]]
    table = {label: [by_key[(im, label)] for im in images] for label in labels}
    mean_bpp = {label: _mean([r["bpp"] for r in rows]) for label, rows in table.items()}
    order = sorted(range(len(labels)), key=lambda i: mean_bpp[labels[i]])
    labels = [labels[i] for i in order]
    settings = [info["settings"][i] for i in order]
    results = {"setting": settings, "bpp": [mean_bpp[l] for l in labels]}
    for key in ("psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time"):
        results[key] = [_mean([r[key] for r in table[l]]) for l in labels]
    results["ms-ssim"] = list(results["ms-ssim-rgb"])
    for key in LEARNED_KEYS:
        if all(r.get(key) is not None for l in labels for r in table[l]):
            results[key] = [_mean([r[key] for r in table[l]]) for l in labels]
    if "bits_estimated" in results:  # file bits over the model's estimate, summed over the images
        results["real_over_estimated_bits"] = [
            sum(r["bytes"] * 8 for r in table[l]) / sum(r["bits_estimated"] for r in table[l]) for l in labels]
    per_image = {im: {key: [table[l][i][key] for l in labels] for key in PER_IMAGE_KEYS}
                 for i, im in enumerate(images)}
    for i, im in enumerate(images):
        per_image[im]["pixels"] = ev.images[i].pixels
    meta = {"kind": info["kind"], "published": False, "version": info["version"],
            "setting_name": codec.setting_name, "labels": labels,
            "commands": {l: codec.command(s) for l, s in zip(labels, settings)},
            "dataset": str(ev.dataset), "images": len(images), "skipped_files": len(ev.skipped_files),
            "computed": info["computed"], "cached": len(info["records"]) - info["computed"],
            "jobs": ev.jobs, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": ev.command,
            "libraries": library_versions(), "machine": machine(),
            "timing_note": f"seconds per image, measured with {ev.jobs} parallel job(s)"}
    return {"name": name, "description": codec.description, "results": results, "per_image": per_image,
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
    rd_points = {
        "dataset": f"{Path(meta['dataset']).name} ({meta['images']} images)", "measured": meta["date"][:10],
        "command": meta["command"], "model_id": card.get("model_id"),
        "quality": r["setting"], "bpp": [round(v, 4) for v in r["bpp"]],
        "psnr-rgb": [round(v, 3) for v in r["psnr-rgb"]],
        "ms-ssim-rgb": [None if v is None else round(v, 5) for v in r["ms-ssim-rgb"]],
    }
    return set_card_field(name, "rd_points", rd_points, folder)
