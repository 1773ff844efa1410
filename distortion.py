"""Distortion measures every layer may use (the API reports PSNR; ``eval`` builds on these)."""
from __future__ import annotations

import numpy as np


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    """PSNR in dB between two same-shaped integer images; ``peak`` is 255 for 8-bit, 65535 for 16-bit."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))
