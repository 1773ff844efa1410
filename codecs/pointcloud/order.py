"""Deterministic point order for predictive coding (encoder side only: the decoder receives the
ring lengths and simply emits points in coded order).

1. ``ring`` column given (nuScenes): per ring, first the points farther than ``NEAR`` metres from
   the sensor axis, then the near ones (returns from the vehicle itself and no-return
   placeholders), each segment sorted by azimuth (ties keep the file order, i.e. the firing
   order). Splitting them keeps the far points' scan steps regular; azimuth order beat voxel
   order for the near segment too (nuScenes: 15.96 vs 16.71 bits per point, xyz only). The
   decoder gets the segment lengths, ring ``r`` owning segments ``2r`` and ``2r + 1``.
2. Input already in scan order (KITTI ``.bin``): azimuth runs that wrap around once per laser
   ring; the wraps are the ring boundaries, and the input order is kept.
3. Otherwise: voxel (Morton / Z-order) sort of the quantised coordinates, one stream.
"""
from __future__ import annotations

import numpy as np

from ncodec.codecs.pointcloud.grid import morton_order_keys

MODE_RING, MODE_SCAN, MODE_VOXEL = 0, 1, 2
NEAR = 1.0  # metres
_MIN_RING_POINTS = 32
MAX_RINGS = 4096  # laser rings in ring order; ring lengths in scan order


def point_order(q: np.ndarray, ring: np.ndarray | None, step: float = 0.001) -> tuple[int, np.ndarray, np.ndarray]:
    """(mode, permutation, ring (segment) lengths) for integer coordinates ``q`` (N, 3)."""
    n = len(q)
    x, y = q[:, 0].astype(np.float64), q[:, 1].astype(np.float64)
    if ring is not None and ring.max() < MAX_RINGS:
        near = (x * x + y * y) < (NEAR / step) ** 2
        azimuth = np.arctan2(y, x)  # encoder only: any machine's atan2 gives a valid order
        segment = 2 * ring + near
        order = np.lexsort((azimuth, segment))
        return MODE_RING, order, np.bincount(segment, minlength=2 * int(ring.max()) + 2).astype(np.int64)
    if n >= 2 * _MIN_RING_POINTS:
        azimuth = np.arctan2(y, x)
        wraps = np.flatnonzero(np.abs(np.diff(azimuth)) > np.pi) + 1
        bounds = np.concatenate([[0], wraps, [n]])
        lengths = np.diff(bounds)
        if len(lengths) <= MAX_RINGS and np.mean(lengths) >= _MIN_RING_POINTS * 4 and \
                (lengths >= _MIN_RING_POINTS).mean() > 0.5:
            return MODE_SCAN, np.arange(n), lengths.astype(np.int64)
    return MODE_VOXEL, np.argsort(morton_order_keys(q), kind="stable"), np.array([n], dtype=np.int64)


def blocks(ring_lengths: np.ndarray, block_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Split each ring into consecutive blocks of at most ``block_len`` points: (starts, lengths)
    as positions in coded order."""
    starts, lengths = [], []
    pos = 0
    for n in np.asarray(ring_lengths).tolist():
        k = -(-n // block_len)
        if k:
            size = -(-n // k)  # equal-ish blocks
            s = np.arange(k) * size
            starts.append(pos + s)
            lengths.append(np.minimum(size, n - s))
        pos += n
    if not starts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(starts).astype(np.int64), np.concatenate(lengths).astype(np.int64)


def ring_ids(mode: int, lengths: np.ndarray) -> np.ndarray | None:
    """Ring index of every point in coded order (None in voxel order)."""
    if mode == MODE_VOXEL:
        return None
    segment = np.repeat(np.arange(len(lengths)), lengths)
    return segment // 2 if mode == MODE_RING else segment
