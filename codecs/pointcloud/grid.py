"""Integer grids, written once for every point-cloud codec, the training and the evaluation:
quantisation to a step (``round(xyz / step)``, ties up) and Morton (Z-order) codes of
non-negative integer coordinates (21 bits per axis, x in the lowest bit of each triple)."""
from __future__ import annotations

import numpy as np

MORTON_BITS = 21  # bits per axis in a 63-bit code


def quantise(xyz: np.ndarray, step: float) -> np.ndarray:
    """Grid indices ``floor(xyz / step + 0.5)`` (float64: callers check the range, then cast)."""
    return np.floor(np.asarray(xyz) / step + 0.5)


def voxelise(xyz: np.ndarray, voxel: float) -> tuple[np.ndarray, np.ndarray]:
    """(grid indices relative to their minimum (float64, >= 0), the minimum (float64))."""
    v = quantise(xyz, voxel)
    origin = v.min(axis=0)
    return v - origin, origin


def _spread(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.uint64) & np.uint64((1 << MORTON_BITS) - 1)
    out = np.zeros_like(v)
    for bit in range(MORTON_BITS):
        out |= ((v >> np.uint64(bit)) & np.uint64(1)) << np.uint64(3 * bit)
    return out


def _compact(m: np.ndarray) -> np.ndarray:
    out = np.zeros_like(m)
    for bit in range(MORTON_BITS):
        out |= ((m >> np.uint64(3 * bit)) & np.uint64(1)) << np.uint64(bit)
    return out


def morton(v: np.ndarray) -> np.ndarray:
    """Morton codes (uint64) of (n, 3) non-negative integer coordinates below 2^21."""
    return _spread(v[:, 0]) | (_spread(v[:, 1]) << np.uint64(1)) | (_spread(v[:, 2]) << np.uint64(2))


def unmorton(m: np.ndarray) -> np.ndarray:
    """Inverse of :func:`morton`: (n, 3) int64."""
    return np.stack([_compact(m), _compact(m >> np.uint64(1)), _compact(m >> np.uint64(2))], axis=1).astype(np.int64)


def morton_order_keys(q: np.ndarray) -> np.ndarray:
    """Morton codes of any integer coordinates: shifted to start at 0, then coarsened by the
    fewest bits that fit the extent in 21 bits per axis (for sorting; not invertible)."""
    v = (q - q.min(axis=0)).astype(np.uint64)
    shift = max(int(v.max()).bit_length() - MORTON_BITS, 0) if len(v) else 0
    return morton(v >> np.uint64(shift))
