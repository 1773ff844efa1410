"""Encoder lookahead: how much of each block's content later frames inherit (x264's macroblock
tree, on the source frames of one intra period), turned into per-coefficient weights of the
encoder's rate-distortion optimisation.

A region that the following P frames predict from (a static background, a slow pan) is worth more
than its own pixels: its errors are copied forward, and whatever it costs is saved again in every
frame that inherits it. Per 16x16 block of each frame (luma), from the last frame of the period
back to its I frame: the share of the block that motion compensation from the previous source
frame explains, ``1 - inter / intra`` (SAD of the motion-compensated block against the block's
own detail, both with a floor), times the block's own cost plus what it inherits, is handed to
the blocks of the previous frame that the vector points at (by area). A block's importance is
``1 + inherited / own``. The encoder divides its RDO lambda by ``importance ** strength`` (relative
to the frame's geometric mean), so it keeps more precision where later frames build on it and
drops more where nothing is inherited; with a frame strength it also divides it by that geometric
mean ** frame strength, so the frames that more of the period inherits (the I frame, the early P
frames) keep more precision as a whole, as x264's tree does without normalising per frame.

This is an encoder choice: the decoder never sees it, files decode as before, and with strength
0 (the default) nothing runs.
"""
from __future__ import annotations

import numpy as np

from ncodec.codecs.video import motion

BLOCK = 16
FLOOR = 2.0  # per-pixel floor of both costs (flat blocks neither pass on nor inherit by noise)
SEARCH = 16  # pixels, the lookahead's motion search range


def _box(y: np.ndarray, r: int = 2) -> np.ndarray:
    """Mean over the (2r + 1)^2 neighbourhood, edges extended."""
    k = 2 * r + 1
    c = np.pad(np.cumsum(np.cumsum(np.pad(y, r, mode="edge"), 0), 1), ((1, 0), (1, 0)))
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)


def importance(frames: np.ndarray, start: int, stop: int) -> list[np.ndarray]:
    """(gh, gw) importance (>= 1) of every 16x16 block of frames ``start`` (the I frame) ..
    ``stop - 1`` of one intra period, from the source frames."""
    h, w = frames.shape[1:3]
    gh, gw = motion.grid(h, w, BLOCK)
    lumas = [motion.luma(frames[t]).astype(np.float64) for t in range(start, stop)]
    floor = FLOOR * BLOCK * BLOCK
    own = [motion.block_sums(np.abs(y - _box(y)), BLOCK, gh, gw) + floor for y in lumas]
    inherited = [np.zeros((gh, gw)) for _ in lumas]
    rows, cols = np.arange(gh)[:, None], np.arange(gw)[None, :]
    for i in range(len(lumas) - 1, 0, -1):
        ref = motion.Reference(frames[start + i - 1])
        mv = motion.estimate(frames[start + i], ref, BLOCK, SEARCH, 1.0)
        inter = motion.block_sums(np.abs(lumas[i] - ref.luma().block_prediction(mv, BLOCK)), BLOCK, gh, gw) + floor
        amount = (own[i] + inherited[i]) * np.clip(1.0 - inter / own[i], 0.0, 1.0)
        by, bx = rows + mv[..., 0] / (4.0 * BLOCK), cols + mv[..., 1] / (4.0 * BLOCK)
        y0, x0 = np.floor(by).astype(np.int64), np.floor(bx).astype(np.int64)
        fy, fx = by - y0, bx - x0
        for dy, wy in ((0, 1 - fy), (1, fy)):
            for dx, wx in ((0, 1 - fx), (1, fx)):
                yy, xx = y0 + dy, x0 + dx
                inside = (yy >= 0) & (yy < gh) & (xx >= 0) & (xx < gw)
                np.add.at(inherited[i - 1], (yy[inside], xx[inside]), (amount * wy * wx)[inside])
    return [1.0 + inh / o for inh, o in zip(inherited, own)]


def lambda_scale(weights: np.ndarray, strength: float, height: int, width: int, frame_strength: float = 0.0):
    """``band(factor, shape) -> (bh, bw)`` multipliers of the RDO lambda for the coefficients of a
    band that is ``factor`` times smaller than the frame: the geometric mean of
    ``(importance / its frame mean) ** -strength`` over each coefficient's footprint, times
    ``frame mean ** -frame_strength`` (the frame's own share: the I frame and the early P frames of
    a period, which more frames inherit, keep more; x264's tree does not normalise per frame)."""
    log_w = np.log(weights)
    frame = float(log_w.mean())
    log_w -= frame
    pixels = np.repeat(np.repeat(log_w, BLOCK, 0), BLOCK, 1)[:height, :width]
    cache: dict = {}

    def band(factor: int, shape: tuple[int, int]) -> np.ndarray:
        key = (factor, tuple(shape))
        if key not in cache:
            bh, bw = shape
            p = np.pad(pixels, ((0, max(0, bh * factor - height)), (0, max(0, bw * factor - width))), mode="edge")
            p = p[: bh * factor, : bw * factor]
            cache[key] = np.exp(-strength * p.reshape(bh, factor, bw, factor).mean(axis=(1, 3)) - frame_strength * frame)
        return cache[key]

    return band
