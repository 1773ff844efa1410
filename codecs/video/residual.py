"""The inter-frame residual coder: CDF 9/7 wavelet coefficients of the motion-compensated
residual, coded under a spatiotemporal context model.

Every coefficient's Laplace table comes from a learned lookup (``lut``: one table index per
context cell, fitted on training clips, :mod:`ncodec.train.video`) indexed by integer features of
what the decoder already has:

* ``N`` spatial: the decoded in-band neighbours (four polyphase passes, as in ``lwc``),
* ``P`` the parent band (3x3 around the co-located parent; the residual's lowpass for the
  coarsest details),
* ``X`` the other channels (chroma: the luma band) or the band's earlier orientations (luma),
* ``T`` the temporal prior: the co-located coefficient of the *prediction* (the motion-compensated
  previous decoded frame) in an exact integer 5/3 wavelet of its luma, in quantiser steps: where
  the prediction has detail, motion errors leave residual.

Per frame the encoder moves each (level, channel) class by a whole number of table steps
(calibration, range-coded in the frame's stream). Everything that selects a table is integer;
only the pixel reconstruction after decoding is float64 (then rounded to 8 bits).
"""
from __future__ import annotations

import numpy as np

from ncodec.codecs.image import cdf97
from ncodec.entropy.subband_context import box3, fit, upsample  # the image context model's, exactly
from ncodec.codecs.video import tables as tb

PASSES = ((0, 0), (1, 1), (0, 1), (1, 0))  # polyphase positions, in coding order
N_BINS = (0, 1, 2, 3, 5, 8, 12, 20)  # thresholds: bin = count of thresholds <= value
P_BINS = (0, 1, 2, 4, 8, 16)
X_BINS = (0, 1, 2, 4, 8, 16)
T_BINS = (0, 1, 2, 4, 8, 16)
SIZES = (len(N_BINS), len(P_BINS), len(X_BINS), len(T_BINS))
CELLS = int(np.prod(SIZES))
LEVEL_SLOTS = 6  # detail levels 0..4 (finest first), slot 5: the lowpass band
N_CLASSES = LEVEL_SLOTS * 2 * 2  # level slot x (luma, chroma) x (first pass, later passes)
SHIFT_RANGE = 15
MAG_CLIP = 1 << 20
MAX_LEVELS = 5
RECON_OFFSET = 0.12  # a nonzero |q| is rebuilt at (|q| - offset) * step


def _bins(values: np.ndarray, thresholds) -> np.ndarray:
    return np.searchsorted(np.asarray(thresholds[1:]), values, side="right")


def class_of(slot: int, channel: int, pass_: int) -> int:
    return (slot * 2 + (channel > 0)) * 2 + (pass_ > 0)


def calib_group(slot: int, channel: int) -> int:
    return slot * 3 + channel


N_GROUPS = LEVEL_SLOTS * 3


# ------------------------------------------------------------------ exact integer 5/3 wavelet

def _lift53(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s, d = x[..., 0::2].copy(), x[..., 1::2].copy()
    ns, nd = s.shape[-1], d.shape[-1]
    right = s[..., 1 : nd + 1] if ns > nd else np.concatenate([s[..., 1:], s[..., -1:]], -1)
    d -= (s[..., :nd] + right) >> 1
    prev = np.concatenate([d[..., :1], d[..., : ns - 1]], -1)
    here = d if nd == ns else np.concatenate([d, d[..., -1:]], -1)
    s += (prev + here + 2) >> 2
    return s, d


def analysis53(x: np.ndarray, levels: int):
    """Integer (h, w) -> (ll, [(hl, lh, hh) per level, finest first]), the same band shapes as
    :func:`ncodec.codecs.image.cdf97.analysis`."""
    ll = np.asarray(x, dtype=np.int64)
    details = []
    for _ in range(levels):
        lo, hi = _lift53(ll)
        ll, lh = (np.swapaxes(a, -1, -2) for a in _lift53(np.swapaxes(lo, -1, -2)))
        hl, hh = (np.swapaxes(a, -1, -2) for a in _lift53(np.swapaxes(hi, -1, -2)))
        details.append((hl, lh, hh))
    return ll, details


def temporal_prior(prediction: np.ndarray, levels: int, step16: int):
    """Per band (same layout as the coefficients), integer prior magnitudes in quarter steps:
    |5/3 coefficient of the prediction's luma sum R+G+B| scaled to the 9/7 band's gain."""
    y = prediction.astype(np.int64).sum(axis=2)
    ll, details = analysis53(y, levels)
    # a 5/3 detail at level l has about 2**-l the gain of the balanced 9/7 one; R+G+B is sqrt(3) Y
    out_details = [tuple((np.abs(b) << (l + 4)) // (step16 * 2) for b in bands) for l, bands in enumerate(details)]
    out_ll = np.zeros_like(ll)  # the residual's lowpass has no useful prior from the prediction's
    return out_ll, out_details


# ------------------------------------------------------------------ coding walk

def band_order(levels: int):
    """(slot, level, orient) in decoding order: lowpass first, then coarse to fine, HL LH HH."""
    yield LEVEL_SLOTS - 1, levels, -1
    for level in reversed(range(levels)):
        for orient in range(3):
            yield min(level, LEVEL_SLOTS - 2), level, orient


def pass_masks(shape) -> list[np.ndarray]:
    rows, cols = np.arange(shape[0])[:, None] & 1, np.arange(shape[1])[None, :] & 1
    return [(rows == a) & (cols == b) for a, b in PASSES]


def shapes_for(h: int, w: int, levels: int):
    shapes = []
    for _ in range(levels):
        hl, hh_, wl, wh = (h + 1) // 2, h // 2, (w + 1) // 2, w // 2
        shapes.append([(3, hl, wh), (3, hh_, wl), (3, hh_, wh)])
        h, w = hl, wl
    return (3, h, w), shapes


def walk(levels: int, ll_shape, shapes, prior, lut: np.ndarray, coder) -> list:
    """Visit every (band, channel, pass) in decoding order. ``coder(group, mask, base_tables)``
    returns the pass's values (encoder: its own; decoder: decoded). Returns the magnitudes
    (ll, details) and the records (group, band key, mask, values, base tables)."""
    mags_ll = np.zeros(ll_shape, dtype=np.int64)
    mags = [[np.zeros(s, dtype=np.int64) for s in level] for level in shapes]
    prior_ll, prior_d = prior
    records = []
    for slot, level, orient in band_order(levels):
        band3 = mags_ll if orient < 0 else mags[level][orient]
        tband3 = prior_ll if orient < 0 else prior_d[level][orient]
        for channel in range(3):
            band = band3[channel]
            if band.size == 0:
                continue
            shape = band.shape
            # parent
            if orient < 0:
                par = np.zeros(shape, dtype=np.int64)
            elif level + 1 < levels:
                par = upsample(box3(mags[level + 1][orient][channel]), shape)
            else:
                par = upsample(box3(mags_ll[channel]), shape)
            # cross: chroma sees the luma (and C1) of this band, luma its earlier orientations
            if channel > 0:
                cross = box3(band3[0]) + (box3(band3[1]) if channel == 2 else 0)
            elif orient > 0:
                cross = sum(box3(fit(mags[level][o][0], shape)) for o in range(orient))
            else:
                cross = np.zeros(shape, dtype=np.int64)
            cross = np.asarray(cross)
            t = tband3 if tband3.ndim == 2 else tband3  # luma prior for every channel
            pb, xb, tb_ = _bins(par, P_BINS), _bins(cross, X_BINS), _bins(t, T_BINS)
            for pass_, mask in enumerate(pass_masks(shape)):
                if not mask.any():
                    continue
                n = box3(band)[mask]
                cell = ((_bins(n, N_BINS) * SIZES[1] + pb[mask]) * SIZES[2] + xb[mask]) * SIZES[3] + tb_[mask]
                base = lut[class_of(slot, channel, pass_), cell].astype(np.int64)
                group = calib_group(slot, channel)
                values = coder(group, mask, base, (orient, level, channel))
                band[mask] = np.minimum(np.abs(values), MAG_CLIP)
                records.append((group, (orient, level, channel), mask, values, base, cell, class_of(slot, channel, pass_)))
    return records


def shifted(base: np.ndarray, shift: int) -> np.ndarray:
    return np.clip(base + shift, 0, tb.N_TABLES - 1)


def calibrate(records, shift_table: int | None = None) -> np.ndarray:
    """Per calibration group, the table shift with the fewest bits (hill climbing from 0),
    counting what the shift itself costs under ``shift_table`` when given (an encoder choice:
    an all-zero group would otherwise walk to the range's end, whose code costs more than the
    zeros it saves)."""
    shifts = np.zeros(N_GROUPS, dtype=np.int64)
    by_group: dict[int, list] = {}
    for group, _, _, values, base, *_ in records:
        by_group.setdefault(group, []).append((values, base))
    for group, parts in by_group.items():
        values = np.concatenate([v for v, _ in parts])
        base = np.concatenate([b for _, b in parts])
        mags = np.minimum(np.abs(values), tb.COST_SPAN)

        def cost(s):
            side = 0.0 if shift_table is None else float(tb.bit_costs()[shift_table, s + tb.COST_SPAN])
            return float(tb.bit_costs()[shifted(base, s), mags + tb.COST_SPAN].sum()) + side

        best, best_c = 0, cost(0)
        for direction in (1, -1):
            s = best + direction
            while abs(s) <= SHIFT_RANGE:
                c = cost(s)
                if c >= best_c:
                    break
                best, best_c, s = s, c, s + direction
            if best != 0:
                break
        shifts[group] = best
    return shifts


# ------------------------------------------------------------------ transform and quantisation

def forward(residual: np.ndarray, levels: int):
    """(H, W, 3) residual -> balanced (ll, details) in the orthonormal colour space."""
    return cdf97.forward(np.asarray(residual, np.float64) + 127.5, levels)


def quantise(coeffs, step: float, rounding: float):
    ll, details = coeffs
    q = lambda b: (np.sign(b) * np.floor(np.abs(b) / step + rounding)).astype(np.int64)  # noqa: E731
    return q(ll), [[q(b) for b in bands] for bands in details]


def dequantise(q: np.ndarray, step: float) -> np.ndarray:
    m = np.abs(q)
    return np.where(m > 0, np.sign(q) * (m - RECON_OFFSET), 0.0) * step


def reconstruct(q_ll, q_details, step: float) -> np.ndarray:
    """(H, W, 3) float residual."""
    rgb = cdf97.inverse(dequantise(q_ll, step), [tuple(dequantise(b, step) for b in bands) for bands in q_details])
    return rgb - 127.5
