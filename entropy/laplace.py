"""Zero-mean discretised Laplace tables on a log-spaced scale grid, for the range coder.

Table ``j`` models integer residuals with scale ``s_j = 2 ** (j / PER_OCTAVE + LOG2_MIN)`` as a
mixture ``(1 - eps) * Laplace(s) + eps * Laplace(WIDE * s)`` (a heavy tail for outliers), over the
support ``-K .. K`` with ``K = min(max(ceil(12 s), 4), MAX_HALF)`` and an escape symbol for anything
beyond (its exact value goes out as a varint, see :mod:`ncodec.entropy.rangecoder`).

A codec stores only the decay factors ``exp(-1/s)`` as fixed-point integers (:func:`thetas`, made
once in float at export); the tables are built from them by integer arithmetic only
(:func:`build_tables`), so encoder and decoder use the same integers on every machine. Selecting a table is
an integer operation (:func:`table_index`). The same mixture, in torch, gives the training rate.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ncodec.entropy.rangecoder import TableSet

PER_OCTAVE = 3
LOG2_MIN = -2.0
EPS = 1.0 / 32
WIDE = 16.0
MAX_HALF = 8191
PRECISION = 40  # counts total about 2**40 (each at least 1; python ints, exact)


def scales(count: int) -> np.ndarray:
    return 2.0 ** (np.arange(count) / PER_OCTAVE + LOG2_MIN)


THETA_BITS = 30


def thetas(count: int = 48) -> np.ndarray:
    """Decay factors ``exp(-1/s)`` in fixed point (THETA_BITS), for each scale and for its wide
    tail: (count, 2) int64. Computed once in float; a codec stores *these integers*."""
    s = scales(count)
    return np.round(np.exp(-1.0 / np.stack([s, WIDE * s], axis=1)) * 2.0**THETA_BITS).astype(np.int64)


def _geometric(theta: int, half: int, weight: int) -> list[int]:
    """Integer discrete Laplace counts for |k| = 0..half (mass ~ ``weight``) and the tail beyond."""
    one = 1 << THETA_BITS
    a = (weight * (one - theta)) // (one + theta)  # p(0) of a discrete Laplace with decay theta
    out = []
    for _ in range(half + 1):
        out.append(a)
        a = (a * theta) >> THETA_BITS
    tail = 2 * ((a * one) // max(one - theta, 1))  # both sides beyond +-half
    return out, tail


def build_tables(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cdfs, lengths, offsets) in CompressAI's layout from the integer decay factors, by integer
    arithmetic only: the same integers on every machine."""
    theta = np.asarray(theta, dtype=np.int64)
    rows = []
    for j, s in enumerate(scales(len(theta))):
        half = int(min(max(math.ceil(12 * s), 4), MAX_HALF))
        main, main_tail = _geometric(int(theta[j, 0]), half, int((1 - EPS) * (1 << PRECISION)))
        wide, wide_tail = _geometric(int(theta[j, 1]), half, int(EPS * (1 << PRECISION)))
        side = [m + w for m, w in zip(main, wide)]
        counts = np.array(side[:0:-1] + side + [main_tail + wide_tail], dtype=np.int64)
        counts = np.maximum(counts, 1)
        rows.append((np.concatenate([[0], np.cumsum(counts)]), -half))
    max_len = max(len(c) for c, _ in rows)
    cdfs = np.zeros((len(rows), max_len), dtype=np.int64)
    lengths = np.zeros(len(rows), dtype=np.int64)
    offsets = np.zeros(len(rows), dtype=np.int64)
    for j, (cdf, off) in enumerate(rows):
        cdfs[j, : len(cdf)] = cdf
        lengths[j], offsets[j] = len(cdf), off
    return cdfs, lengths, offsets


def table_set(cdfs, lengths, offsets) -> TableSet:
    return TableSet(np.asarray(cdfs), np.asarray(lengths), np.asarray(offsets))


def table_index(log2_scale_fixed: np.ndarray, frac_bits: int, count: int) -> np.ndarray:
    """Integer table selection: ``log2_scale_fixed`` holds log2(scale) * 2**frac_bits as integers
    (int64 or integer-valued float64); returns round(PER_OCTAVE * (log2 s - LOG2_MIN)) clamped."""
    v = np.asarray(log2_scale_fixed).astype(np.int64)
    one = 1 << frac_bits
    j = (PER_OCTAVE * (v - int(LOG2_MIN) * one) + one // 2) >> frac_bits
    return np.clip(j, 0, count - 1)


def bits(residual: torch.Tensor, log2_scale: torch.Tensor) -> torch.Tensor:
    """Training rate in bits of integer-valued ``residual`` under the table mixture with the
    continuous scale ``2 ** log2_scale`` (same support/escape shape ignored: the tails are tiny)."""
    s = torch.exp2(log2_scale.clamp(LOG2_MIN, 16.0))

    def cdf(x, scale):
        return 0.5 + 0.5 * torch.sign(x) * (1 - torch.exp(-x.abs() / scale))

    def mix(x):
        return (1 - EPS) * cdf(x, s) + EPS * cdf(x, WIDE * s)

    p = mix(residual + 0.5) - mix(residual - 0.5)
    return -torch.log2(p.clamp_min(2.0 ** -PRECISION))
