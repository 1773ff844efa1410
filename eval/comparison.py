"""BD-rate tables of evaluated codecs against one or more anchors, from the results dicts
(``eval.bdrate`` does the arithmetic: PCHIP over log-rate, overlap only, never extrapolated).
Metrics are the evaluated modality's curve metrics (:class:`~ncodec.codecs.modality.Metric`), or
the names ``psnr`` / ``ms-ssim`` of the image results keys."""
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


def _name_and_key(metric) -> tuple[str, str]:
    if isinstance(metric, str):
        return metric, METRIC_KEYS.get(metric, metric)
    return metric.name, metric.key


def curve(name: str, results: dict, metric, rate_key: str = "bpp") -> Curve | None:
    key = _name_and_key(metric)[1]
    rates = results.get(rate_key) or results.get("bpp") or []
    pairs = [(b, q) for b, q in zip(rates, results.get(key) or []) if b is not None and q is not None]
    if len(pairs) < 2:
        return None
    return Curve(name, [b for b, _ in pairs], [q for _, q in pairs])


def compare(anchor: str, anchor_results: dict, name: str, results: dict, metric,
            method: str = "pchip", rate_key: str = "bpp") -> BDRow:
    row = BDRow(anchor, name, _name_and_key(metric)[0])
    a, t = curve(anchor, anchor_results, metric, rate_key), curve(name, results, metric, rate_key)
    if a is None or t is None:
        row.error = f"no {row.metric} curve"
        return row
    try:
        r = bd_rate(a, t, method)
    except InputError as e:
        row.error = str(e).split(" (")[0]
        return row
    try:  # equal-rate delta: needs overlapping rates, which curves far apart in rate lack
        row.bd_quality = bd_psnr(a, t, method).value
    except InputError:
        row.bd_quality = None
    row.bd_rate, row.interval = r.value, r.interval
    row.overlap_anchor, row.overlap_test = r.overlap_anchor, r.overlap_test
    return row


def bd_table(everything: dict[str, dict], anchors: list[str], metrics=("psnr", "ms-ssim"),
             rate_key: str = "bpp") -> list[BDRow]:
    """Every codec against every anchor (the anchor itself excluded), for each metric."""
    rows = []
    for anchor in anchors:
        for name, data in everything.items():
            if name == anchor:
                continue
            for metric in metrics:
                rows.append(compare(anchor, everything[anchor]["results"], name, data["results"], metric,
                                    rate_key=rate_key))
    return rows


def per_sample_table(everything: dict[str, dict], anchor: str, metric="psnr", rate_key: str = "bpp",
                     unit: str = "image") -> dict[str, dict[str, BDRow]]:
    """sample -> codec -> BD-rate of that sample's curve against the anchor's curve on the same sample."""
    key = f"per_{unit}"
    base = everything[anchor].get(key)
    if not base:
        return {}
    table = {}
    for sample, anchor_points in base.items():
        table[sample] = {}
        for name, data in everything.items():
            points = (data.get(key) or {}).get(sample)
            if name == anchor or points is None:
                continue
            table[sample][name] = compare(anchor, anchor_points, name, points, metric, rate_key=rate_key)
    return table


