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

from ncodec.distortion import psnr  # noqa: F401  (one PSNR for the API and eval)

MS_SSIM_MIN_SIDE = 161  # 4 halvings must leave at least the 11-pixel window




def psnr_yuv(ref: tuple[np.ndarray, np.ndarray, np.ndarray], dec: tuple[np.ndarray, np.ndarray, np.ndarray],
             peak: float = 255) -> dict[str, float]:
    """Per-plane PSNR of (Y, U, V) planes and the weighted ``yuv`` = (6 Y + U + V) / 8."""
    y, u, v = (psnr(r, d, peak) for r, d in zip(ref, dec))
    return {"y": y, "u": u, "v": v, "yuv": (6 * y + u + v) / 8}


def ms_ssim(a: np.ndarray, b: np.ndarray, peak: float = 255) -> float | None:
    """MS-SSIM of two (H, W, C) images (pytorch-msssim), or None when the image is too small."""
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim

    if min(a.shape[:2]) < MS_SSIM_MIN_SIDE:
        return None
    to = lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).permute(2, 0, 1)[None]  # noqa: E731
    with torch.no_grad():
        return float(_ms_ssim(to(a), to(b), data_range=peak))


def ms_ssim_db(value: float) -> float:
    """MS-SSIM on the decibel scale used in RD plots: -10 log10(1 - MS-SSIM)."""
    return float(-10 * np.log10(max(1 - value, 1e-10)))


def bits_per_pixel(path: Path | str, pixels: int) -> float:
    """The whole file's size in bits per pixel."""
    return os.path.getsize(path) * 8 / pixels
