"""Video quality measures on 8-bit RGB frames: per-frame PSNR-RGB, PSNR-Y and PSNR-YUV (6:1:1 of
the BT.601 4:2:0 planes derived from the RGB frames, rounded to 8 bits), MS-SSIM (RGB; frames
whose short side is over 160 pixels). Sequence figures are the means over frames."""
from __future__ import annotations

import numpy as np


def _psnr(mse: np.ndarray) -> np.ndarray:
    return 10 * np.log10(255.0**2 / np.maximum(mse, 1e-10))


def per_frame(src: np.ndarray, dec: np.ndarray, ms_ssim: bool = True) -> dict:
    from ncodec.codecs.video import io

    s, d = src.astype(np.float64), dec.astype(np.float64)
    out = {"psnr-rgb": _psnr(((s - d) ** 2).reshape(len(s), -1).mean(1))}
    ys, us, vs = io.rgb_to_yuv(src)
    yd, ud, vd = io.rgb_to_yuv(dec)

    def mse(a, b):
        return ((np.round(a) - np.round(b)) ** 2).reshape(len(a), -1).mean(1)

    py = _psnr(mse(ys, yd))
    pu, pv = _psnr(mse(io._down(us), io._down(ud))), _psnr(mse(io._down(vs), io._down(vd)))
    out["psnr-y"], out["psnr-yuv"] = py, (6 * py + pu + pv) / 8
    if ms_ssim and min(src.shape[1:3]) > 160:
        import torch
        from pytorch_msssim import ms_ssim as msssim

        # torch.tensor copies: decoded frames may be read-only buffers (a baseline's ffmpeg output)
        a = torch.tensor(src).permute(0, 3, 1, 2).float()
        b = torch.tensor(dec).permute(0, 3, 1, 2).float()
        out["ms-ssim-rgb"] = np.array([float(msssim(a[i : i + 1], b[i : i + 1], data_range=255)) for i in range(len(a))])
    return out


def summary(src: np.ndarray, dec: np.ndarray) -> dict:
    return {k: float(np.mean(v)) for k, v in per_frame(src, dec).items()}
