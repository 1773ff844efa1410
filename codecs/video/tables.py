"""Laplace tables of the video codec's coefficient and motion coders (own tables over
:mod:`ncodec.entropy.rangecoder`, so the image codec's tables can change without touching video
files). Table ``k`` is a discrete Laplace of scale ``2 ** ((k - ZERO) / PER_OCTAVE)`` mixed with a
wide component, quantised to integer counts: everything the coder sees is integer."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ncodec.entropy.rangecoder import TableSet

PER_OCTAVE = 4
ZERO = 28  # table ZERO has scale 1; table 0 has scale 2**-7
N_TABLES = 72  # largest scale 2**11
TOTAL = 1 << 16
MAX_HALF = 2047
COST_SPAN = 255  # encoder bit costs are tabulated for |v| <= COST_SPAN
N_BINARY = 31  # binary tables after the Laplace ones: P(1) = sigmoid((k - 15) / 3)
BINARY = N_TABLES  # index of the first binary table


def scale(k: int) -> float:
    return 2.0 ** ((k - ZERO) / PER_OCTAVE)


@lru_cache(maxsize=1)
def table_set() -> TableSet:
    lengths, offsets, rows = [], [], []
    for k in range(N_TABLES):
        s = scale(k)
        half = int(min(MAX_HALF, max(2, np.ceil(s * 12))))
        v = np.arange(-half, half + 1, dtype=np.float64)
        # discrete Laplace (bins of width 1 around each integer) + 1/256 of a 8x wider one
        def mass(sc):
            hi, lo = np.abs(v) + 0.5, np.maximum(np.abs(v) - 0.5, 0.0)
            m = np.exp(-lo / sc) - np.exp(-hi / sc)
            m[v == 0] = 1 - np.exp(-0.5 / sc)
            return m / 2 * np.where(v == 0, 2, 1)
        p = (1 - 1 / 256) * mass(s) + (1 / 256) * mass(8 * s)
        p = np.append(p, max(1e-9, 1 - p.sum()))  # escape
        counts = np.maximum(1, np.floor(p / p.sum() * (TOTAL - len(p))).astype(np.int64))
        counts[np.argmax(counts)] += TOTAL - counts.sum()
        rows.append(np.concatenate([[0], np.cumsum(counts)]))
        lengths.append(len(p) + 1)
        offsets.append(-half)
    for k in range(N_BINARY):
        p1 = 1 / (1 + np.exp(-(k - 15) / 3))
        c1 = int(np.clip(round(p1 * TOTAL), 1, TOTAL - 2))
        rows.append(np.array([0, TOTAL - 1 - c1, TOTAL - 1, TOTAL]))  # 0, 1, escape
        lengths.append(4)
        offsets.append(0)
    width = max(lengths)
    cdfs = np.zeros((len(rows), width), dtype=np.int64)
    for k, r in enumerate(rows):
        cdfs[k, : len(r)] = r
        cdfs[k, len(r):] = r[-1]
    return TableSet(cdfs, np.array(lengths), np.array(offsets))


@lru_cache(maxsize=1)
def bit_costs() -> np.ndarray:
    """(N_TABLES, 2 * COST_SPAN + 1) model bits of each value in -COST_SPAN..COST_SPAN."""
    tset = table_set()
    v = np.arange(-COST_SPAN, COST_SPAN + 1)
    out = np.zeros((len(tset), v.size))
    for k in range(len(tset)):
        index = v - tset.offsets[k]
        esc = tset.lengths[k] - 2
        escaped = (index < 0) | (index >= esc)
        index = np.where(escaped, esc, index)
        p = tset.cdfs[k, index + 1] - tset.cdfs[k, index]
        out[k] = np.log2(TOTAL) - np.log2(p) + 12.0 * escaped
    return out


def cost(values: np.ndarray, tables: np.ndarray) -> np.ndarray:
    return bit_costs()[tables, np.clip(values, -COST_SPAN, COST_SPAN) + COST_SPAN]


def table_costs(values: np.ndarray) -> np.ndarray:
    """(N_TABLES,) bits of ``values`` under each Laplace table."""
    values = np.clip(np.asarray(values).reshape(-1), -COST_SPAN, COST_SPAN) + COST_SPAN
    hist = np.bincount(values, minlength=2 * COST_SPAN + 1)
    return bit_costs()[:N_TABLES] @ hist


def binary_costs(bits: np.ndarray) -> np.ndarray:
    """(N_BINARY,) bits of the 0/1 ``bits`` under each binary table (table ``BINARY + k``)."""
    ones = int(np.count_nonzero(bits))
    zeros = int(np.size(bits)) - ones
    c = bit_costs()[BINARY:, COST_SPAN : COST_SPAN + 2]
    return c[:, 0] * zeros + c[:, 1] * ones


def best_table(values: np.ndarray) -> int:
    """The Laplace table that codes ``values`` in the fewest bits."""
    return int(np.argmin(table_costs(values)))


def best_binary(bits: np.ndarray) -> int:
    """The binary table that codes the 0/1 ``bits`` in the fewest bits."""
    return BINARY + int(np.argmin(binary_costs(bits)))
