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


def _median3(a, b, c):
    return (sorted((a[0], b[0], c[0]))[1], sorted((a[1], b[1], c[1]))[1])


def refine(field: np.ndarray, anchor: np.ndarray, cur_luma: np.ndarray, ref_luma: motion.Reference, block: int,
           lam: float, sweeps: int = 2) -> np.ndarray:
    """Encoder: make a chosen field cheaper to code. Vectors found block by block are noisy
    (several quarter-pel vectors fit a flat block almost equally well), and each differing vector
    costs a flag and its residual from the median of its neighbours. Per leaf, in coding order,
    this tries its own vector, the median it is coded against, its neighbours' vectors and zero,
    and keeps the one with the smallest SAD + lam x (its bits + the bits of the later leaves whose
    median it enters); ``sweeps`` passes over the frame; then whole regions of equal vectors are
    moved to a neighbouring region's vector where that pays. Decoding is unchanged."""
    gh, gw = field.shape[:2]
    h, w = cur_luma.shape
    mv = [[tuple(int(v) for v in field[i, j]) for j in range(gw)] for i in range(gh)]
    flat = anchor.reshape(-1)
    order = np.argsort(flat, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(flat[order])) + 1)
    leaves = []  # (anchor i, j, cells [(i, j)], pixel rows, pixel cols)
    for cells in groups:
        i, j = divmod(int(flat[cells[0]]), gw)
        ci, cj = np.divmod(cells, gw)
        rows = slice(i * block, min(h, (int(ci.max()) + 1) * block))
        cols = slice(j * block, min(w, (int(cj.max()) + 1) * block))
        leaves.append((i, j, [(int(a), int(b)) for a, b in zip(ci, cj)], rows, cols))
    leaf_of = {}
    for n, (_, _, cells, _, _) in enumerate(leaves):
        for c in cells:
            leaf_of[c] = n

    def neighbours(i, j):  # the cells whose vectors form the median at anchor (i, j)
        return [(i, j - 1), (i - 1, j), (i - 1, j + 1)]

    def predictor(i, j):
        zero = (0, 0)
        left = mv[i][j - 1] if j > 0 else zero
        if i == 0:
            return left
        top = mv[i - 1][j]
        tr = mv[i - 1][j + 1] if j + 1 < gw else zero
        return _median3(left, top, tr)

    dependents = [[] for _ in leaves]
    for n, (i, j, _, _, _) in enumerate(leaves):
        for c in neighbours(i, j):
            if c in leaf_of and leaf_of[c] != n and n not in dependents[leaf_of[c]]:
                dependents[leaf_of[c]].append(n)

    sad_cache: dict = {}

    def sad(n, v):
        key = (n, v)
        if key not in sad_cache:
            _, _, _, rows, cols = leaves[n]
            pred = ref_luma.patch(v, rows, cols)
            sad_cache[key] = float(np.abs(cur_luma[rows, cols].astype(np.int64) - pred).sum())
        return sad_cache[key]

    def assign(n, v):
        for a, b in leaves[n][2]:
            mv[a][b] = v

    def leaf_bits(n):
        i, j = leaves[n][0], leaves[n][1]
        p = predictor(i, j)
        return motion.vector_bits(mv[i][j][0] - p[0], mv[i][j][1] - p[1])

    for _ in range(sweeps):
        changed = False
        for n, (i, j, cells, _, _) in enumerate(leaves):
            own = mv[i][j]
            cands = [predictor(i, j), own, (0, 0)]  # ties go to the free vector
            for a, b in ((i, j - 1), (i - 1, j), (cells[-1][0] + 1, j), (i, cells[-1][1] + 1)):
                if 0 <= a < gh and 0 <= b < gw and mv[a][b] not in cands:
                    cands.append(mv[a][b])
            best, best_cost = own, None
            for v in cands:
                assign(n, v)
                cost = sad(n, v) + lam * (leaf_bits(n) + sum(leaf_bits(d) for d in dependents[n]))
                if best_cost is None or cost < best_cost:
                    best, best_cost = v, cost
            assign(n, best)
            changed |= best != own
        if not changed:
            break

    # Single-leaf moves stop on plateaus: two regions of different vectors that fit equally well
    # meet at a boundary whose cost no one leaf can remove. Whole regions of equal vectors
    # (4-connected leaves) are moved to a neighbouring region's vector when that pays.
    adjacent = [set() for _ in leaves]
    for (a, b), n in leaf_of.items():
        for c in ((a + 1, b), (a, b + 1)):
            m = leaf_of.get(c)
            if m is not None and m != n:
                adjacent[n].add(m)
                adjacent[m].add(n)
    for _ in range(sweeps):
        changed = False
        seen = [False] * len(leaves)
        for start in range(len(leaves)):
            if seen[start]:
                continue
            v = mv[leaves[start][0]][leaves[start][1]]
            region, stack = [], [start]
            seen[start] = True
            while stack:
                n = stack.pop()
                region.append(n)
                for m in adjacent[n]:
                    if not seen[m] and mv[leaves[m][0]][leaves[m][1]] == v:
                        seen[m] = True
                        stack.append(m)
            inside = set(region)
            touched = sorted(inside.union(*(dependents[n] for n in region)))
            others = []
            for n in region:
                for m in adjacent[n]:
                    w = mv[leaves[m][0]][leaves[m][1]]
                    if m not in inside and w != v and w not in others:
                        others.append(w)
            before = sum(sad(n, v) for n in region) + lam * sum(leaf_bits(n) for n in touched)
            best, best_cost = v, before
            for w in others:
                for n in region:
                    assign(n, w)
                cost = sum(sad(n, w) for n in region) + lam * sum(leaf_bits(n) for n in touched)
                if cost < best_cost:
                    best, best_cost = w, cost
            for n in region:
                assign(n, best)
            changed |= best != v
        if not changed:
            break
    return np.array(mv, dtype=np.int64).reshape(gh, gw, 2)


def prune(splits: list[np.ndarray], field: np.ndarray, depth: int) -> list[np.ndarray]:
    """Encoder: undo the splits whose leaves ended with one vector (after :func:`refine`), from
    the finest level up: the same field, coded with fewer flags and vectors."""
    gh, gw = field.shape[:2]
    out = [np.array(s, dtype=bool) for s in splits]
    for level in range(depth - 1, -1, -1):
        rows, cols, side = nodes(gh, gw, depth, level)
        for r in range(rows):
            for c in range(cols):
                if not out[level][r, c]:
                    continue
                if level + 1 < depth and out[level + 1][2 * r : 2 * r + 2, 2 * c : 2 * c + 2].any():
                    continue  # a child is split itself
                cells = field[r * side : (r + 1) * side, c * side : (c + 1) * side].reshape(-1, 2)
                if (cells == cells[0]).all():
                    out[level][r, c] = False
    return out
