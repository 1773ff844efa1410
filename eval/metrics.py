"""Quality and rate metrics on decoded integer images.

* PSNR on RGB 8-bit (any peak for other depths), and for video Y / U / V with the 6:1:1 weighted
  YUV PSNR of the common test conditions.
* MS-SSIM through pytorch-msssim (5 scales, 11x11 Gaussian window), defined only for images whose
  shorter side exceeds 160 pixels; smaller images get ``None``.
* bpp always from the size of the whole file.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ncodec.distortion import MS_SSIM_MIN_SIDE, ms_ssim, psnr  # noqa: F401  (one PSNR / MS-SSIM for every layer)


def psnr_yuv(ref: tuple[np.ndarray, np.ndarray, np.ndarray], dec: tuple[np.ndarray, np.ndarray, np.ndarray],
             peak: float = 255) -> dict[str, float]:
    """Per-plane PSNR of (Y, U, V) planes and the weighted ``yuv`` = (6 Y + U + V) / 8."""
    y, u, v = (psnr(r, d, peak) for r, d in zip(ref, dec))
    return {"y": y, "u": u, "v": v, "yuv": (6 * y + u + v) / 8}


def ms_ssim_db(value: float) -> float:
    """MS-SSIM on the decibel scale used in RD plots: -10 log10(1 - MS-SSIM)."""
    return float(-10 * np.log10(max(1 - value, 1e-10)))


def bits_per_pixel(path: Path | str, pixels: int) -> float:
    """The whole file's size in bits per pixel."""
    return os.path.getsize(path) * 8 / pixels
