"""Bjøntegaard deltas between two rate-distortion curves.

BD-rate: the average relative rate difference at equal quality, integrated over the overlapping
quality interval of log-rate curves; PCHIP (monotone piecewise cubic, Akima-like robustness, the
default in recent common test conditions) or the classic cubic polynomial fit on request.
BD-PSNR: the average quality difference at equal log-rate. Never extrapolates: the integral runs
over the overlap only, whose share of each curve is reported; no overlap is an error.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.interpolate import PchipInterpolator

from ncodec.errors import InputError

METRIC_KEYS = {"psnr": "psnr-rgb", "ms-ssim": "ms-ssim-rgb"}


@dataclass
class Curve:
    name: str
    rate: np.ndarray
    quality: np.ndarray

    def __post_init__(self):
        self.rate, self.quality = np.asarray(self.rate, float), np.asarray(self.quality, float)
        if len(self.rate) != len(self.quality) or len(self.rate) < 2:
            raise InputError(f"curve {self.name!r} needs at least two (rate, quality) points")
        if np.any(self.rate <= 0) or not np.all(np.isfinite(self.rate)) or not np.all(np.isfinite(self.quality)):
            raise InputError(f"curve {self.name!r} has non-positive or non-finite values")


@dataclass
class BDResult:
    value: float          # percent for BD-rate, dB (or metric units) for BD-PSNR
    interval: tuple[float, float]
    overlap_anchor: float  # share of the anchor's range that the interval covers
    overlap_test: float


def _fit(x: np.ndarray, y: np.ndarray, method: str):
    """A callable integral over [a, b] of y(x) for points sorted by x."""
    order = np.argsort(x)
    x, y = x[order], y[order]
    if np.any(np.diff(x) <= 0):
        raise InputError("a curve has repeated values on the integration axis")
    if method == "pchip":
        f = PchipInterpolator(x, y)
        return lambda a, b: float(f.integrate(a, b))
    if method == "cubic":
        if len(x) < 4:
            raise InputError("the cubic fit needs at least four points per curve")
        p = np.polyint(np.polyfit(x, y, 3))
        return lambda a, b: float(np.polyval(p, b) - np.polyval(p, a))
    raise InputError(f"unknown interpolation {method!r} (pchip or cubic)")


def _delta(ax, ay, tx, ty, method: str) -> tuple[float, BDResult]:
    lo, hi = max(ax.min(), tx.min()), min(ax.max(), tx.max())
    if not hi > lo:
        raise InputError(f"curves do not overlap ([{ax.min():.3f}, {ax.max():.3f}] vs [{tx.min():.3f}, {tx.max():.3f}])")
    diff = (_fit(tx, ty, method)(lo, hi) - _fit(ax, ay, method)(lo, hi)) / (hi - lo)
    overlap = lambda x: (hi - lo) / (x.max() - x.min())  # noqa: E731
    return diff, BDResult(0.0, (float(lo), float(hi)), overlap(ax), overlap(tx))


def bd_rate(anchor: Curve, test: Curve, method: str = "pchip") -> BDResult:
    """Percent rate change of ``test`` vs ``anchor`` at equal quality (negative: test is better)."""
    diff, r = _delta(anchor.quality, np.log(anchor.rate), test.quality, np.log(test.rate), method)
    r.value = float((np.exp(diff) - 1) * 100)
    return r


def bd_psnr(anchor: Curve, test: Curve, method: str = "pchip") -> BDResult:
    """Quality change of ``test`` vs ``anchor`` at equal rate (positive: test is better)."""
    diff, r = _delta(np.log(anchor.rate), anchor.quality, np.log(test.rate), test.quality, method)
    r.value = float(diff)
    return r


def load_curve(path: Path, metric: str = "psnr") -> Curve:
    """A curve from a results JSON in CompressAI's layout (``results.bpp`` + ``results.psnr-rgb``;
    ``ncodec eval`` of another modality: its ``meta.rate_key`` and a results key as ``metric``)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        results = data["results"]
        key = METRIC_KEYS.get(metric, metric)
        rate_key = (data.get("meta") or {}).get("rate_key", "bpp")
        return Curve(data.get("name", path.stem), results[rate_key], results[key])
    except FileNotFoundError:
        raise InputError(f"results file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(f"{path} is not a JSON file") from None
    except KeyError as e:
        raise InputError(f"{path} has no {e} in CompressAI's results layout") from None
