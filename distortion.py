"""Distortion measures every layer may use (the API reports PSNR; ``eval`` builds on these)."""
from __future__ import annotations

import numpy as np


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    """PSNR in dB between two same-shaped integer images; ``peak`` is 255 for 8-bit, 65535 for 16-bit."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))


MS_SSIM_MIN_SIDE = 161  # 4 halvings must leave at least the 11-pixel window


def ms_ssim(a: np.ndarray, b: np.ndarray, peak: float = 255) -> float | None:
    """MS-SSIM of two (H, W, C) images (pytorch-msssim, 5 scales, 11x11 Gaussian window), or None
    when the image is too small."""
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim

    if min(a.shape[:2]) < MS_SSIM_MIN_SIDE:
        return None
    to = lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).permute(2, 0, 1)[None]  # noqa: E731
    with torch.no_grad():
        return float(_ms_ssim(to(a), to(b), data_range=peak))
