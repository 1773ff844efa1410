"""Variable block sizes for ``lvc``'s motion: a quadtree from ``max_block`` down to ``block``.

The motion field always lives on the fine grid (one vector per ``block`` x ``block`` cell, what
overlapped compensation blends); a leaf of the quadtree gives all its cells one vector. Large
leaves cost one vector where uniform motion would otherwise be coded (and estimated, noisily)
many times; small leaves follow motion boundaries.

Coding order (the decoder needs nothing else): split flags level by level from the top
(``max_block`` nodes in raster order, then the children of split nodes), then one vector per
leaf at its *anchor*, its top-left cell, in raster order of the fine grid. A leaf's vector is
predicted by the median of the fine field's left, top and top-right cells of its anchor (all
final by then: every cell before the anchor in raster order belongs to a leaf anchored earlier).

The encoder chooses splits bottom-up by a rate proxy: SAD of the block prediction of the luma +
lambda x (vector bits + one flag), per level from the vectors estimated at that block size.
"""
from __future__ import annotations

import numpy as np

from ncodec.codecs.video import motion


def levels(block: int, max_block: int) -> int:
    """Number of split levels between ``max_block`` and ``block`` (both powers of two)."""
    depth = int(round(np.log2(max_block / block)))
    if block < 4 or max_block < block or block << depth != max_block:
        raise ValueError(f"block sizes must be powers of two with block <= max_block (got {block}, {max_block})")
    return depth


def nodes(gh: int, gw: int, depth: int, level: int) -> tuple[int, int, int]:
    """(rows, cols, cells per side) of the level-``level`` node grid (level 0: the largest)."""
    side = 1 << (depth - level)
    return -(-gh // side), -(-gw // side), side


def anchors_from_splits(splits: list[np.ndarray], gh: int, gw: int, depth: int) -> np.ndarray:
    """(gh, gw) index of each cell's anchor (flat index of its leaf's top-left cell)."""
    ii, jj = np.mgrid[0:gh, 0:gw]
    leaf_side = np.full((gh, gw), 1 << depth)
    for level in range(depth):
        side = 1 << (depth - level)
        split = splits[level][ii // side, jj // side]
        leaf_side = np.where(split & (leaf_side == side), side // 2, leaf_side)
    return (ii // leaf_side * leaf_side) * gw + (jj // leaf_side * leaf_side)


def present(splits: list[np.ndarray], gh: int, gw: int, depth: int, level: int) -> np.ndarray:
    """Which level-``level`` nodes carry a split flag: all at level 0, else children of split
    nodes (nodes wholly outside the frame are absent: their grid ends at the frame)."""
    rows, cols, _ = nodes(gh, gw, depth, level)
    if level == 0:
        return np.ones((rows, cols), dtype=bool)
    parent = splits[level - 1]
    return parent[np.arange(rows)[:, None] // 2, np.arange(cols)[None, :] // 2]


def choose(cur: np.ndarray, ref: motion.Reference, block: int, max_block: int, search: int, lam: float,
           split_bits: float = 1.0) -> tuple[list[np.ndarray], np.ndarray]:
    """Encoder: split flags (per level, boolean node grids) and the fine field (gh, gw, 2).
    Vectors are estimated at every block size; each node keeps its own vector or the best of its
    children by SAD + lam * (vector bits + split flag bits)."""
    h, w = cur.shape[:2]
    depth = levels(block, max_block)
    gh, gw = motion.grid(h, w, block)
    yc = motion.luma(cur)
    yref = ref.luma()
    sizes = [block << k for k in range(depth + 1)]
    coarse = motion.coarse_searches(cur, ref, sizes, search, lam) if block >= 8 and min(h, w) >= 32 else {}
    best_cost, best_mv = None, None  # at the current level, on that level's grid
    splits: list[np.ndarray] = [None] * depth
    for level in range(depth, -1, -1):  # finest first
        size = block << (depth - level)
        mv = motion.estimate(cur, ref, size, search, lam, coarse=coarse.get(size))
        mv = np.clip(mv, -motion.MAX_VECTOR, motion.MAX_VECTOR)
        rows, cols = mv.shape[:2]
        pred = yref.block_prediction(mv, size)
        sad = motion.block_sums(np.abs(yc - pred), size, rows, cols)
        own = sad + lam * (motion.mv_bits(mv - motion.median_predictor(mv)) + (split_bits if level < depth else 0))
        if best_cost is None:
            best_cost, best_mv = own, mv.reshape(rows, 1, cols, 1, 2)
            continue
        # children's best cost summed per parent (children outside the grid count nothing)
        cr, cc = best_cost.shape
        padded = np.zeros((2 * rows, 2 * cols))
        padded[:cr, :cc] = best_cost
        children = padded.reshape(rows, 2, cols, 2).sum(axis=(1, 3)) + lam * split_bits
        split = children < own
        splits[level] = split
        best_cost = np.where(split, children, own)
        # fine-cell vectors of this level's nodes: own vector, or the children's
        side = 1 << (depth - level)
        fine_child = best_mv.reshape(cr * (side // 2), cc * (side // 2), 2)
        fine = np.zeros((rows * side, cols * side, 2), dtype=np.int64)
        fine[: fine_child.shape[0], : fine_child.shape[1]] = fine_child
        own_fine = mv.repeat(side, 0).repeat(side, 1)
        split_fine = split.repeat(side, 0).repeat(side, 1)[..., None]
        fine = np.where(split_fine, fine, own_fine)
        best_mv = fine.reshape(rows, side, cols, side, 2)
    field = best_mv.reshape(best_mv.shape[0] * best_mv.shape[1], best_mv.shape[2] * best_mv.shape[3], 2)[:gh, :gw]
    if depth == 0:
        splits = []
    return splits, field
