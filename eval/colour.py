"""RGB <-> Y'CbCr (BT.709 coefficients, full range, 8-bit), the conversion used to feed RGB
photos to video encoders (x265, VTM) as 4:4:4 and to read their output back."""
from __future__ import annotations

import numpy as np

KR, KB = 0.2126, 0.0722
KG = 1 - KR - KB


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, H, W) uint8 planes Y, Cb, Cr (full range)."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = KR * r + KG * g + KB * b
    cb = (b - y) / (2 * (1 - KB)) + 128
    cr = (r - y) / (2 * (1 - KR)) + 128
    return np.clip(np.round(np.stack([y, cb, cr])), 0, 255).astype(np.uint8)


def ycbcr_to_rgb(planes: np.ndarray) -> np.ndarray:
    """(3, H, W) uint8 full-range Y, Cb, Cr -> (H, W, 3) uint8 RGB."""
    y, cb, cr = (p.astype(np.float64) for p in planes)
    cb, cr = cb - 128, cr - 128
    r = y + 2 * (1 - KR) * cr
    b = y + 2 * (1 - KB) * cb
    g = (y - KR * r - KB * b) / KG
    return np.clip(np.round(np.stack([r, g, b], axis=-1)), 0, 255).astype(np.uint8)


def write_yuv444(path, rgb: np.ndarray) -> None:
    """One 8-bit planar 4:4:4 frame (Y plane, then Cb, then Cr)."""
    rgb_to_ycbcr(rgb).tofile(path)


def read_yuv444(path, height: int, width: int) -> np.ndarray:
    planes = np.fromfile(path, dtype=np.uint8)
    if planes.size != 3 * height * width:
        raise ValueError(f"{path}: expected {3 * height * width} bytes of 8-bit 4:4:4, found {planes.size}")
    return ycbcr_to_rgb(planes.reshape(3, height, width))
