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
from ncodec.entropy.subband_context import (HOT, LOG_CLIP, LOG_MAP, N_BAND, N_LEVEL_SLOTS, OUT_FRAC, box3,
                                            fit, pad1, reach, upsample)  # the image context model's, exactly
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


class BandView:
    """The decoded context of one (band, channel) at the time its passes are coded: the maps both
    context models read, each computed on first use (integers; zeros where nothing is decoded)."""

    def __init__(self, slot: int, level: int, orient: int, channel: int, levels: int, band3, mags, mags_ll, prior):
        self.slot, self.level, self.orient, self.channel = slot, level, orient, channel
        self._levels, self._band3, self._mags, self._mags_ll = levels, band3, mags, mags_ll
        prior_ll, prior_d = prior[:2]
        self._edges = prior[2] if len(prior) > 2 else None  # (edge map of the motion field, its block)
        self.band = band3[channel]
        self.shape = self.band.shape
        self.t = prior_ll if orient < 0 else prior_d[level][orient]  # the luma prior, for every channel
        self._prior_d = prior_d
        self._cache: dict = {}

    def cached(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def _parent_band(self):
        if self.orient < 0:
            return None
        if self.level + 1 < self._levels:
            return self._mags[self.level + 1][self.orient][self.channel]
        return self._mags_ll[self.channel]

    @property
    def par3(self) -> np.ndarray:
        """3x3 sum around the co-located parent (the residual's lowpass for the coarsest details)."""
        def make():
            parent = self._parent_band()
            return np.zeros(self.shape, dtype=np.int64) if parent is None else upsample(box3(parent), self.shape)
        return self.cached("par3", make)

    @property
    def par1(self) -> np.ndarray:
        def make():
            parent = self._parent_band()
            return np.zeros(self.shape, dtype=np.int64) if parent is None else upsample(parent, self.shape)
        return self.cached("par1", make)

    @property
    def cross(self) -> np.ndarray:
        """Chroma: 3x3 sums of the luma (and C1) of this band; luma: of its earlier orientations."""
        def make():
            b3, shape = self._band3, self.shape
            if self.channel > 0:
                return box3(b3[0]) + (box3(b3[1]) if self.channel == 2 else 0)
            if self.orient > 0:
                return sum(box3(fit(self._mags[self.level][o][0], shape)) for o in range(self.orient))
            return np.zeros(shape, dtype=np.int64)
        return self.cached("cross", make)

    @property
    def cross1(self) -> np.ndarray:
        """The co-located value behind :attr:`cross`: chroma the luma's, luma the previous orientation's."""
        def make():
            if self.channel > 0:
                return self._band3[0]
            if self.orient > 0:
                return fit(self._mags[self.level][self.orient - 1][0], self.shape)
            return np.zeros(self.shape, dtype=np.int64)
        return self.cached("cross1", make)

    @property
    def t3(self) -> np.ndarray:
        return self.cached("t3", lambda: box3(self.t))

    @property
    def t_parent(self) -> np.ndarray:
        """The prior one level coarser at the parent position (zeros for the coarsest and the lowpass)."""
        def make():
            if self.orient < 0 or self.level + 1 >= self._levels:
                return np.zeros(self.shape, dtype=np.int64)
            return upsample(self._prior_d[self.level + 1][self.orient], self.shape)
        return self.cached("t_parent", make)


    @property
    def motion_edge(self) -> np.ndarray:
        """The motion field's discontinuity (:func:`motion_edges`) of the block each coefficient
        lies in (zeros without a field)."""
        def make():
            if self._edges is None:
                return np.zeros(self.shape, dtype=np.int64)
            edges, block = self._edges
            factor = 1 << (self.level + (0 if self.orient < 0 else 1))  # band samples -> pixels
            rows = np.minimum((np.arange(self.shape[0]) * factor) // block, edges.shape[0] - 1)
            cols = np.minimum((np.arange(self.shape[1]) * factor) // block, edges.shape[1] - 1)
            return edges[rows][:, cols]
        return self.cached("motion_edge", make)


def motion_edges(mv: np.ndarray) -> np.ndarray:
    """(gh, gw) integer discontinuity of a quarter-pel motion field: per cell the largest
    |dy| + |dx| difference from its four neighbours (overlapped compensation blends there, and
    the prediction errs most at motion boundaries)."""
    mv = np.asarray(mv, dtype=np.int64)
    out = np.zeros(mv.shape[:2], dtype=np.int64)
    d = np.abs(mv[1:] - mv[:-1]).sum(-1)
    out[1:] = np.maximum(out[1:], d)
    out[:-1] = np.maximum(out[:-1], d)
    d = np.abs(mv[:, 1:] - mv[:, :-1]).sum(-1)
    out[:, 1:] = np.maximum(out[:, 1:], d)
    out[:, :-1] = np.maximum(out[:, :-1], d)
    return out


class LookupContext:
    """The shipped models' context: a table index per cell of binned (N, P, X, T) features and
    class (``lut``: (N_CLASSES, CELLS))."""

    def __init__(self, lut: np.ndarray):
        self.lut = lut

    def tables(self, view: BandView, pass_: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(base table per coefficient of the pass, its cell)."""
        bins = view.cached("bins", lambda: (_bins(view.par3, P_BINS), _bins(np.asarray(view.cross), X_BINS),
                                          _bins(view.t, T_BINS)))
        pb, xb, tb_ = bins
        n = box3(view.band)[mask]
        cell = ((_bins(n, N_BINS) * SIZES[1] + pb[mask]) * SIZES[2] + xb[mask]) * SIZES[3] + tb_[mask]
        klass = class_of(view.slot, view.channel, pass_)
        return self.lut[klass, cell].astype(np.int64), cell


def walk(levels: int, ll_shape, shapes, prior, context, coder, sink=None, reuse=None) -> list:
    """Visit every (band, channel, pass) in decoding order. ``context``: a :class:`LookupContext`
    or :class:`MlpContext`; ``coder(group, mask, base_tables, key)`` returns
    the pass's values (encoder: its own; decoder: decoded); ``sink(view, pass_, mask, values)``,
    when given, sees every pass (training samples). Returns the records (group, band key, mask,
    values, base tables, cell or None, class). ``reuse`` (encoder, :func:`reusable`): per band key
    its earlier records' tables and where they may be stale; the context runs there only."""
    mags_ll = np.zeros(ll_shape, dtype=np.int64)
    mags = [[np.zeros(s, dtype=np.int64) for s in level] for level in shapes]
    records = []
    for slot, level, orient in band_order(levels):
        band3 = mags_ll if orient < 0 else mags[level][orient]
        for channel in range(3):
            if band3[channel].size == 0:
                continue
            view = BandView(slot, level, orient, channel, levels, band3, mags, mags_ll, prior)
            earlier = None if reuse is None else reuse.get((orient, level, channel))
            coded = 0  # the band's nonempty passes so far
            for pass_, mask in enumerate(pass_masks(view.shape)):
                if not mask.any():
                    continue
                if earlier is None:
                    base, cell = context.tables(view, pass_, mask)
                else:
                    base, cell = _refreshed(context, view, pass_, mask, *earlier[0][coded], earlier[1])
                coded += 1
                group = calib_group(slot, channel)
                values = coder(group, mask, base, (orient, level, channel))
                if sink is not None:
                    sink(view, pass_, mask, values)
                view.band[mask] = np.minimum(np.abs(values), MAG_CLIP)
                records.append((group, (orient, level, channel), mask, values, base, cell, class_of(slot, channel, pass_)))
    return records


def _refreshed(context, view: BandView, pass_: int, mask: np.ndarray, base: np.ndarray, cell, stale: np.ndarray):
    """A pass's earlier (base tables, cells) with the positions in ``stale`` computed again."""
    redo = mask & stale
    if not redo.any():
        return base, cell
    base, cell = base.copy(), None if cell is None else cell.copy()
    new_base, new_cell = context.tables(view, pass_, redo)
    at = stale[mask]
    base[at] = new_base
    if cell is not None:
        cell[at] = new_cell
    return base, cell


def reusable(records, old, new, levels: int) -> dict:
    """What of ``records`` (walked over the values ``old``) still holds for ``new`` (both
    (q_ll, q_details)), for :func:`walk`'s ``reuse``: per band key its records' (base tables,
    cells) and the positions whose context can differ. A context reads magnitudes within one row
    and column in its own band, its channel's earlier orientations, the earlier channels of its
    orientation, and around its parent (:class:`BandView`); the prior and the motion field do not
    change. After an RDO sweep, which changes few values, most of the context work is not repeated."""
    def band(q, key):
        orient, level, channel = key
        return (q[0] if orient < 0 else q[1][level][orient])[channel]

    changed, out = {}, {}
    for _, key, *_ in records:
        if key not in changed:
            changed[key] = band(old, key) != band(new, key)  # (a superset of the changed magnitudes)
    for _, key, _, _, base, cell, _ in records:
        if key not in out:
            orient, level, channel = key
            reads = [key] + [(o, level, channel) for o in range(orient)] + [(orient, level, c) for c in range(channel)]
            parent = None if orient < 0 else ((orient, level + 1, channel) if level + 1 < levels else (-1, levels, channel))
            stale = reach(changed[key].shape, [changed[k] for k in reads if k in changed], changed.get(parent))
            out[key] = ([], stale)
        out[key][0].append((base, cell))
    return out


# ------------------------------------------------------------------ learned context network

def features(view: BandView, pass_: int, mask: np.ndarray) -> np.ndarray:
    """(N, 11) integer features (through the image model's log map, 0..48) of one pass: decoded
    neighbours (vertical, horizontal, diagonal sums of the earlier passes), the parent and its
    3x3, the cross-channel / earlier-orientation value and 3x3 sums, the temporal prior, its 3x3
    and its parent, and the motion field's discontinuity at the coefficient's block."""
    p = pad1(view.band)  # only earlier passes are nonzero yet
    cols = [(p[:-2, 1:-1] + p[2:, 1:-1])[mask], (p[1:-1, :-2] + p[1:-1, 2:])[mask],
            (p[:-2, :-2] + p[:-2, 2:] + p[2:, :-2] + p[2:, 2:])[mask],
            view.par1[mask], view.par3[mask], view.cross1[mask], view.cross[mask],
            view.t[mask], view.t3[mask], view.t_parent[mask], view.motion_edge[mask]]
    x = np.stack(cols, axis=1)
    return LOG_MAP[np.minimum(x, LOG_CLIP)].astype(np.uint8)


def step_code(step16: int) -> int:
    """floor(4 log2(step16)), by integer arithmetic: the quantiser step as the network sees it."""
    return (int(step16) ** 4).bit_length() - 1


def band_vector(step16: int, view: BandView, pass_: int) -> np.ndarray:
    """(16,) band features: step code, one-hot level slot (the lowpass: the coarsest), orientation
    (none for the lowpass), channel and pass (the image model's N_BAND layout)."""
    x = np.zeros(N_BAND, dtype=np.int64)
    x[0] = step_code(step16)
    x[1 + min(view.level, N_LEVEL_SLOTS - 1)] = HOT
    if view.orient >= 0:
        x[1 + N_LEVEL_SLOTS + view.orient] = HOT
    x[1 + N_LEVEL_SLOTS + 3 + view.channel] = HOT
    x[1 + N_LEVEL_SLOTS + 6 + pass_] = HOT
    return x


class MlpContext:
    """A learned network's context (``ExactMLP`` of :mod:`ncodec.entropy.subband_context`: exact
    fixed point): per coefficient, the table index (in OUT_FRAC fixed point, rounded) from
    :func:`features` and :func:`band_vector`."""

    def __init__(self, mlp, step16: int):
        self.mlp, self.step16 = mlp, int(step16)

    def tables(self, view: BandView, pass_: int, mask: np.ndarray) -> tuple[np.ndarray, None]:
        x = features(view, pass_, mask)
        out = self.mlp(x, self.mlp.band_bias(band_vector(self.step16, view, pass_)))
        k = np.floor((out + float(1 << (OUT_FRAC - 1))) * (1.0 / (1 << OUT_FRAC))).astype(np.int64)
        return np.clip(k, 0, tb.N_TABLES - 1), None


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
