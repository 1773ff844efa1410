"""BD-rate tables of evaluated codecs against one or more anchors, from the results dicts
(``eval.bdrate`` does the arithmetic: PCHIP over log-rate, overlap only, never extrapolated)."""
from __future__ import annotations

from dataclasses import dataclass

from ncodec.errors import InputError
from ncodec.eval.bdrate import METRIC_KEYS, Curve, bd_psnr, bd_rate


@dataclass
class BDRow:
    anchor: str
    codec: str
    metric: str
    bd_rate: float | None = None       # percent, negative = fewer bits than the anchor
    bd_quality: float | None = None    # dB for PSNR, MS-SSIM units for MS-SSIM
    interval: tuple[float, float] | None = None
    overlap_anchor: float | None = None
    overlap_test: float | None = None
    error: str | None = None


def curve(name: str, results: dict, metric: str) -> Curve | None:
    key = METRIC_KEYS[metric]
    pairs = [(b, q) for b, q in zip(results.get("bpp", []), results.get(key) or []) if b is not None and q is not None]
    if len(pairs) < 2:
        return None
    return Curve(name, [b for b, _ in pairs], [q for _, q in pairs])


def compare(anchor: str, anchor_results: dict, name: str, results: dict, metric: str,
            method: str = "pchip") -> BDRow:
    row = BDRow(anchor, name, metric)
    a, t = curve(anchor, anchor_results, metric), curve(name, results, metric)
    if a is None or t is None:
        row.error = f"no {metric} curve"
        return row
    try:
        r, d = bd_rate(a, t, method), bd_psnr(a, t, method)
    except InputError as e:
        row.error = str(e).split(" (")[0]
        return row
    row.bd_rate, row.bd_quality, row.interval = r.value, d.value, r.interval
    row.overlap_anchor, row.overlap_test = r.overlap_anchor, r.overlap_test
    return row


def bd_table(everything: dict[str, dict], anchors: list[str], metrics=("psnr", "ms-ssim")) -> list[BDRow]:
    """Every codec against every anchor (the anchor itself excluded), for each metric."""
    rows = []
    for anchor in anchors:
        for name, data in everything.items():
            if name == anchor:
                continue
            for metric in metrics:
                rows.append(compare(anchor, everything[anchor]["results"], name, data["results"], metric))
    return rows


def per_image_table(everything: dict[str, dict], anchor: str, metric: str = "psnr") -> dict[str, dict[str, BDRow]]:
    """image -> codec -> BD-rate of that image's curve against the anchor's curve on the same image."""
    base = everything[anchor].get("per_image")
    if not base:
        return {}
    table = {}
    for image, anchor_points in base.items():
        table[image] = {}
        for name, data in everything.items():
            points = (data.get("per_image") or {}).get(image)
            if name == anchor or points is None:
                continue
            table[image][name] = compare(anchor, anchor_points, name, points, metric)
    return table
