"""Learned context model for quantised wavelet subbands, evaluated exactly in fixed point.

Every detail coefficient is coded under a zero-mean discretised Laplace table whose scale a small
MLP predicts from *integer* features of already-decoded coefficients:

* the parent (same orientation and channel, one level coarser) and its 3x3 neighbourhood;
* the sibling orientations of the same level decoded before (HL, then LH, then HH);
* the previously decoded colour channels at the same position (Y before C1 before C2);
* within the subband, a two-pass checkerboard or four polyphase passes (:func:`pass_masks`);
* the quality (step size) and one-hot level / orientation / channel / pass.

Magnitudes enter through an integer log map (``floor(4 log2(1 + v))``, computed with integer
arithmetic only), the MLP runs on integers carried in float64 whose every partial sum is an integer
below 2**53 (checked from the weights' L1 norms), so BLAS returns the exact result on any machine
and the table index is an integer function of the decoded data. Each pass is one vectorised MLP
call and one vectorised range-coder call; there is no per-symbol Python loop.

The tables (:func:`tables`) are built from integer decay factors by integer arithmetic
(:func:`ncodec.entropy.laplace._geometric`), over a wider scale grid than the shared Laplace
tables (down to 2**-6: at low rates most coefficients are zero with probability > 0.999).
A model may replace each table's first K magnitudes by learned integer counts (:func:`_shaped`,
fitted from the values its encoder codes, :func:`fit_shapes`), one set per band of the quality
range: the Laplace shape is right in the tail but not near zero, where most bits are.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ncodec.entropy.laplace import THETA_BITS, _geometric
from ncodec.entropy.rangecoder import TableSet

PER_OCTAVE = 3
LOG2_MIN = -6.0
N_TABLES = 52  # scales 2**-6 .. 2**11
EPS = 1.0 / 256  # weight of the wide component (outliers)
WIDE = 8.0
MAX_HALF = 4095
PRECISION = 40

LOG_CLIP = 4095
N_LEVEL_SLOTS = 5
N_NUMERIC = 11  # magnitudes of decoded neighbours, through LOG_MAP
N_PASS_SLOTS = 4
N_BAND = 1 + N_LEVEL_SLOTS + 3 + 3 + N_PASS_SLOTS  # quality code, one-hot level / orientation / channel / pass
N_FEATURES = N_NUMERIC + N_BAND
HOT = 16  # value of a one-hot slot
FEATURE_SCALE = 16.0  # the float network sees the integer features divided by this
FRAC_W, FRAC_A = 12, 8  # fractional bits of weights and of hidden activations
OUT_FRAC = FRAC_W + FRAC_A
_EXACT = 2.0**53


def _log_map() -> np.ndarray:
    """floor(4 * log2(1 + v)) for v = 0..LOG_CLIP (0..48), by integer arithmetic (bit lengths)."""
    return np.array([((1 + v) ** 4).bit_length() - 1 for v in range(LOG_CLIP + 1)], dtype=np.int64)


LOG_MAP = _log_map()


def scales(count: int = N_TABLES) -> np.ndarray:
    return 2.0 ** (np.arange(count) / PER_OCTAVE + LOG2_MIN)


def thetas(count: int = N_TABLES) -> np.ndarray:
    """Integer decay factors exp(-1/s) (THETA_BITS) of each scale and of its wide component."""
    s = scales(count)
    return np.round(np.exp(-1.0 / np.stack([s, WIDE * s], axis=1)) * 2.0**THETA_BITS).astype(np.int64)


def _laplace_rows(theta: np.ndarray) -> list[tuple[list[int], int]]:
    """Per table: (integer counts of |k| = 0..half on one side, the tail beyond +-half on both
    sides), the Laplace main component plus its wide outlier component."""
    rows = []
    for j, s in enumerate(scales(len(theta))):
        half = int(min(max(math.ceil(10 * s), 4), MAX_HALF))
        main, main_tail = _geometric(int(theta[j, 0]), half, int((1 - EPS) * (1 << PRECISION)))
        wide, wide_tail = _geometric(int(theta[j, 1]), half, int(EPS * (1 << PRECISION)))
        rows.append(([m + w for m, w in zip(main, wide)], main_tail + wide_tail))
    return rows


def _shaped(side: list[int], tail: int, shape: np.ndarray) -> tuple[list[int], int]:
    """One table's side counts and tail with its first ``K`` magnitudes from a learned shape row
    (K + 1 integers: the count of 0, of each sign of 1..K-1, and the total mass of |k| >= K on
    both sides). The Laplace counts beyond K keep their shape, scaled to that total; magnitudes
    below K that lie beyond the table fall in its escape. Python integers: exact."""
    k = len(shape) - 1
    learned = [int(v) for v in shape]
    half = len(side) - 1
    if half < k:  # the whole table is learned; the rest of 1..K-1 and the tail go to the escape
        return learned[: half + 1], 2 * sum(learned[half + 1 : k]) + learned[k]
    rest = 2 * sum(side[k:]) + tail
    if rest == 0:  # (a narrow table with no Laplace mass there: all of it in the escape)
        return learned[:k] + [0] * (half + 1 - k), learned[k]
    scaled = [c * learned[k] // rest for c in side[k:]]
    return learned[:k] + scaled, tail * learned[k] // rest


def laplace_shapes(theta: np.ndarray, k: int) -> np.ndarray:
    """(tables, k + 1) shape rows (see :func:`_shaped`) that the Laplace tables themselves have:
    the starting point of a fit."""
    out = []
    for side, tail in _laplace_rows(np.asarray(theta, dtype=np.int64).reshape(-1, 2)):
        side = side + [0] * max(k - len(side), 0)
        out.append(side[:k] + [2 * sum(side[k:]) + tail])
    return np.array(out, dtype=np.int64)


@lru_cache(maxsize=16)
def _tables(theta_bytes: bytes, shape_bytes: bytes | None, k: int) -> TableSet:
    theta = np.frombuffer(theta_bytes, dtype=np.int64).reshape(-1, 2)
    shape = None if shape_bytes is None else np.frombuffer(shape_bytes, dtype=np.int64).reshape(-1, k + 1)
    rows = []
    for j, (side, tail) in enumerate(_laplace_rows(theta)):
        if shape is not None:
            side, tail = _shaped(side, tail, shape[j])
        half = len(side) - 1
        counts = np.maximum(np.array(side[:0:-1] + side + [tail], dtype=np.int64), 1)
        rows.append((np.concatenate([[0], np.cumsum(counts)]), -half))
    width = max(len(c) for c, _ in rows)
    cdfs = np.zeros((len(rows), width), dtype=np.int64)
    for j, (cdf, _) in enumerate(rows):
        cdfs[j, : len(cdf)] = cdf
    return TableSet(cdfs, [len(c) for c, _ in rows], [o for _, o in rows])


def tables(theta: np.ndarray, shape: np.ndarray | None = None) -> TableSet:
    """The coding tables from the stored integer decay factors (cached); ``shape``: (tables,
    K + 1) learned counts of the first K magnitudes (:func:`_shaped`), or None (Laplace)."""
    theta_bytes = np.ascontiguousarray(theta, dtype=np.int64).tobytes()
    if shape is None:
        return _tables(theta_bytes, None, 0)
    shape = np.ascontiguousarray(shape, dtype=np.int64)
    if shape.ndim != 2 or shape.shape[0] != len(theta) or shape.shape[1] < 2 or shape.min() < 0:
        raise ValueError("table shapes must be (tables, K + 1) non-negative integers")
    return _tables(theta_bytes, shape.tobytes(), shape.shape[1] - 1)


def shape_probabilities(shapes: np.ndarray) -> np.ndarray:
    """The probability of |v| = 0..K-1 and >= K that shape rows (:func:`_shaped`) give: entries
    1..K-1 count one sign each."""
    shapes = np.asarray(shapes, dtype=np.float64)
    mass = shapes * np.r_[1.0, np.full(shapes.shape[-1] - 2, 2.0), 1.0]
    return mass / mass.sum(-1, keepdims=True)


def fit_shapes(counts: np.ndarray, prior: np.ndarray, strength: float = 30.0) -> np.ndarray:
    """Shape rows (:func:`_shaped`) from (tables, K + 1) counts of |v| = 0..K-1 and >= K under
    each table, with ``strength`` pseudo-counts distributed as the ``prior`` shape rows (for
    tables that are rarely used). Integers of the tables' precision."""
    counts = np.asarray(counts, dtype=np.float64)
    p = (counts + strength * shape_probabilities(prior)) / (counts.sum(1, keepdims=True) + strength)
    per_sign = np.r_[1.0, np.full(p.shape[1] - 2, 0.5), 1.0]
    return np.maximum(np.round(p * per_sign * 2.0**PRECISION), 1).astype(np.int64)


def bit_costs(tset: TableSet, span: int) -> np.ndarray:
    """(tables, 2 span + 1) model bits of the values -span..span (escapes: the escape symbol plus
    an estimate of their varint), for encoder-side decisions."""
    v = np.arange(-span, span + 1)
    out = np.empty((len(tset), len(v)))
    for t in range(len(tset)):
        index = v - tset.offsets[t]
        escape = tset.lengths[t] - 2
        outside = (index < 0) | (index >= escape)
        index = np.where(outside, escape, index)
        p = tset.cdfs[t, index + 1] - tset.cdfs[t, index]
        out[t] = np.log2(float(tset.cdfs[t, escape + 1])) - np.log2(p) + outside * (2 * np.log2(1 + np.abs(v)) + 1)
    return out


def scale_index(out_fixed: np.ndarray) -> np.ndarray:
    """Table index round(PER_OCTAVE * (log2 s - LOG2_MIN)) from log2 s in OUT_FRAC fixed point."""
    v = np.asarray(out_fixed).astype(np.int64)
    one = 1 << OUT_FRAC
    return (PER_OCTAVE * (v - int(LOG2_MIN) * one) + one // 2) >> OUT_FRAC


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Product of small matrices without BLAS: numpy's own single-threaded loop. (Threaded BLAS
    on these thin products is slower, and much slower on a busy machine.) Exact either way: all
    values are integers whose partial sums stay below 2**53."""
    return np.einsum("ij,jk->ik", a, b)


_KEY_WEIGHTS = 49 ** np.arange(N_NUMERIC, dtype=np.int64)


def _row_keys(x: np.ndarray) -> np.ndarray:
    """One int64 per feature row, sum_f x[:, f] * 49**f (features <= 48, 49**11 < 2**63: distinct
    rows, distinct keys). numpy's integer matrix product is a slow loop but has little overhead;
    from about 20 000 rows Horner's rule (ten whole-column steps) is faster."""
    if len(x) < 20000:
        return x.astype(np.int64) @ _KEY_WEIGHTS
    key = x[:, -1].astype(np.int64)
    for f in range(x.shape[1] - 2, -1, -1):
        key *= 49
        key += x[:, f]
    return key


class ExactMLP:
    """Integer features -> log2 scale in OUT_FRAC fixed point; two ReLU hidden layers. Weights
    are integers (FRAC_W fractional bits); all arithmetic is exact in float64. The band features
    (constant within a pass) enter as one integer bias vector; rows whose neighbour features are
    and rows with equal neighbour features (most of them at low rates) share one evaluation."""

    def __init__(self, w1, b1, w2, b2, w3, b3):
        self.w = [np.asarray(w, dtype=np.float64) for w in (w1, w2, w3)]
        self.b = [np.asarray(b, dtype=np.float64) for b in (b1, b2, b3)]
        for w in self.w + self.b:
            if not np.array_equal(w, np.round(w)):
                raise ValueError("fixed-point weights must be integers")
        self.w_num, self.w_band = self.w[0][:N_NUMERIC], self.w[0][N_NUMERIC:]
        # Largest possible |partial sum| of each layer, from the largest input it can see.
        x_max = float(max(LOG_MAP[-1], 255, HOT))
        for i, (w, b) in enumerate(zip(self.w, self.b)):
            bound = x_max * float(np.abs(w).sum(axis=0).max()) + float(np.abs(b).max()) * (1 << FRAC_A if i else 1)
            if not bound < _EXACT:
                raise ValueError("fixed-point network is too large for exact float64 evaluation")
            x_max = bound / (1 << (FRAC_W if i else FRAC_W - FRAC_A))

    def band_bias(self, band: np.ndarray) -> np.ndarray:
        """First-layer bias of one pass: b1 + band features (N_BAND integers) @ their weights."""
        return np.asarray(band, np.float64) @ self.w_band + self.b[0]

    def _tail(self, h: np.ndarray) -> np.ndarray:
        h = np.floor(np.maximum(h, 0.0) * (1.0 / (1 << (FRAC_W - FRAC_A))))
        h = np.maximum(matmul(h, self.w[1]) + self.b[1] * (1 << FRAC_A), 0.0)
        h = np.floor(h * (1.0 / (1 << FRAC_W)))
        return (matmul(h, self.w[2]) + self.b[2] * (1 << FRAC_A))[:, 0]

    def __call__(self, x: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """``x``: (N, N_NUMERIC) integers in 0..LOG_MAP[-1]; ``bias`` from :meth:`band_bias`.
        Each distinct feature row is evaluated once (rows are packed into one int64 key)."""
        if len(x) == 0:
            return np.zeros(0)
        key = _row_keys(x)
        # All-zero rows (most of them at low rates) share the first evaluation, of a zero row (the
        # bias alone, exactly); only the other rows are sorted into distinct keys.
        busy = np.flatnonzero(key)
        if not len(busy):
            return np.full(len(x), self._tail(np.asarray(bias, np.float64)[None])[0])
        _, first, inverse = np.unique(key[busy], return_index=True, return_inverse=True)
        rows = np.zeros((len(first) + 1, x.shape[1]))
        rows[1:] = x[busy[first]]
        y = self._tail(matmul(rows, self.w_num) + bias)
        out = np.full(len(x), y[0])
        out[busy] = y[1:][inverse.reshape(-1)]
        return out


def export_mlp(layers: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """Float (weight (in, out), bias) of the three layers -> the integer arrays ExactMLP takes.
    The first layer absorbs FEATURE_SCALE (the float net saw features / FEATURE_SCALE)."""
    out = {}
    for i, (w, b) in enumerate(layers):
        w = np.asarray(w, np.float64) / (FEATURE_SCALE if i == 0 else 1.0)
        out[f"w{i + 1}"] = np.round(w * 2.0**FRAC_W).astype(np.int64)
        out[f"b{i + 1}"] = np.round(np.asarray(b, np.float64) * 2.0**FRAC_W).astype(np.int64)
    return out


def import_mlp(arrays: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The inverse of :func:`export_mlp` (exact up to its rounding): a shipped fixed-point network
    as float layers, so training can continue from it (warm start)."""
    layers = []
    for i in range(3):
        w = np.asarray(arrays[f"w{i + 1}"], np.float64) / 2.0**FRAC_W * (FEATURE_SCALE if i == 0 else 1.0)
        layers.append((w, np.asarray(arrays[f"b{i + 1}"], np.float64) / 2.0**FRAC_W))
    return layers


# ---------------------------------------------------------------- context features


def pad1(a: np.ndarray, dtype=None) -> np.ndarray:
    """``np.pad(a, 1)`` of a 2-D map (optionally cast), without np.pad's per-call overhead (a
    decoder pads once per pass)."""
    out = np.zeros((a.shape[0] + 2, a.shape[1] + 2), dtype=a.dtype if dtype is None else dtype)
    out[1:-1, 1:-1] = a
    return out


def box3(a: np.ndarray) -> np.ndarray:
    """3x3 sum with zeros outside (shifted in-place adds: no padded copy, the same integers)."""
    r = a.copy()
    r[1:] += a[:-1]
    r[:-1] += a[1:]
    out = r.copy()
    out[:, 1:] += r[:, :-1]
    out[:, :-1] += r[:, 1:]
    return out


def fit(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Crop or edge-pad ``a`` to ``shape`` (sibling bands differ by at most one row/column)."""
    a = a[: shape[0], : shape[1]]
    ph, pw = shape[0] - a.shape[0], shape[1] - a.shape[1]
    return np.pad(a, ((0, ph), (0, pw)), mode="edge") if ph or pw else a


def upsample(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Parent map: a[i // 2, j // 2] (clipped) at every position of ``shape``."""
    rows = np.minimum(np.arange(shape[0]) // 2, a.shape[0] - 1)
    cols = np.minimum(np.arange(shape[1]) // 2, a.shape[1] - 1)
    return a[rows][:, cols]


# Positions (row parity, column parity) of each pass. Two passes: a checkerboard (the second
# sees its 4 neighbours). Four passes: (0,0) sees nothing, (1,1) its 4 diagonals, (0,1) its 4
# neighbours, (1,0) all 8.
_POLYPHASE = ((0, 0), (1, 1), (0, 1), (1, 0))
# Which neighbour sums (vertical, horizontal, diagonal) each pass sees.
_SEES = {2: ((0, 0, 0), (1, 1, 0)), 4: ((0, 0, 0), (0, 0, 1), (1, 1, 0), (1, 1, 1))}


def pass_masks(shape: tuple[int, int], passes: int) -> list[np.ndarray]:
    rows, cols = np.arange(shape[0])[:, None] & 1, np.arange(shape[1])[None, :] & 1
    if passes == 2:
        board = (rows ^ cols).astype(bool)
        return [~board, board]
    if passes == 4:
        return [(rows == a) & (cols == b) for a, b in _POLYPHASE]
    raise ValueError(f"passes must be 2 or 4, got {passes}")


def static_maps(mags: list[list[np.ndarray]], level: int, channel: int, orient: int) -> np.ndarray:
    """(h, w, 8) integer context maps of one band that do not depend on its own pass:
    parent, parent 3x3, siblings (3x3, 3x3, value), Y value, Y 3x3, C1 3x3.
    ``mags[level][orient]``: (3, h, w) magnitudes decoded so far (zeros elsewhere)."""
    band = mags[level][orient][channel]
    shape = band.shape
    zero = np.zeros(shape, dtype=np.int64)
    if level + 1 < len(mags):
        parent = mags[level + 1][orient][channel]
        par, par3 = upsample(parent, shape), upsample(box3(parent), shape)
    else:
        par = par3 = zero
    sib = [fit(mags[level][o][channel], shape) for o in range(orient)]
    sib0_3 = box3(sib[0]) if orient >= 1 else zero
    sib1_3 = box3(sib[1]) if orient >= 2 else zero
    sib0_v = sib[-1] if orient >= 1 else zero  # the nearest earlier orientation's value
    y = mags[level][orient][0]
    y_v, y_3 = (y, box3(y)) if channel >= 1 else (zero, zero)
    c1_3 = box3(mags[level][orient][1]) if channel >= 2 else zero
    return np.stack([par, par3, sib0_3, sib1_3, sib0_v, y_v, y_3, c1_3], axis=-1)


def pass_maps(band: np.ndarray, pass_: int, passes: int) -> np.ndarray:
    """(h, w, 3): sums of the vertical, horizontal and diagonal neighbours that pass ``pass_``
    has already decoded (zero for the ones it has not)."""
    sees = _SEES[passes][pass_]
    out = np.zeros(band.shape + (3,), dtype=np.int64)
    if not any(sees):
        return out
    p = pad1(band)
    if sees[0]:
        out[..., 0] = p[:-2, 1:-1] + p[2:, 1:-1]
    if sees[1]:
        out[..., 1] = p[1:-1, :-2] + p[1:-1, 2:]
    if sees[2]:
        out[..., 2] = p[:-2, :-2] + p[:-2, 2:] + p[2:, :-2] + p[2:, 2:]
    return out


def pass_index(shape: tuple[int, int], passes: int) -> list:
    """Index of each pass's positions in a band of ``shape``: four polyphase passes are strided
    slices (row-major order, the same positions and order as :func:`pass_masks`), two passes the
    checkerboard masks. ``band[index]`` may be 2-D: flatten it with :func:`take`."""
    if passes == 4:
        return [(slice(a, None, 2), slice(b, None, 2)) for a, b in _POLYPHASE]
    return pass_masks(shape, passes)


def pass_size(shape: tuple[int, int], index) -> int:
    """How many positions a pass of :func:`pass_index` has."""
    if isinstance(index, tuple):
        return len(range(index[0].start, shape[0], 2)) * len(range(index[1].start, shape[1], 2))
    return int(np.count_nonzero(index))


def take(a: np.ndarray, index) -> np.ndarray:
    """``a[index]`` as a flat array (or (N, ...) for maps with trailing axes)."""
    v = a[index]
    return v.reshape((-1,) + a.shape[2:]) if isinstance(index, tuple) else v


def put(a: np.ndarray, index, values: np.ndarray) -> None:
    """``a[index] = values`` for a flat ``values`` in :func:`take`'s order."""
    if isinstance(index, tuple):
        a[index] = values.reshape(a[index].shape)
    else:
        a[index] = values


LOG_MAP8 = LOG_MAP.astype(np.uint8)


def _log8(a: np.ndarray) -> np.ndarray:
    return LOG_MAP8[np.minimum(a, LOG_CLIP)]


def band_statics(mags: list[list[np.ndarray]], level: int, channel: int, orient: int) -> np.ndarray:
    """:func:`static_maps` already passed through the log map (same values, (h, w, 8) uint8),
    computed without the all-zero maps (the log map commutes with the parent upsampling)."""
    band = mags[level][orient][channel]
    shape = band.shape
    out = np.zeros(shape + (8,), dtype=np.uint8)
    if level + 1 < len(mags):
        parent = mags[level + 1][orient][channel]
        out[..., 0] = upsample(_log8(parent), shape)
        out[..., 1] = upsample(_log8(box3(parent)), shape)
    if orient >= 1:
        sib0 = fit(mags[level][0][channel], shape)
        out[..., 2] = _log8(box3(sib0))
        out[..., 4] = _log8(fit(mags[level][orient - 1][channel], shape))
    if orient >= 2:
        out[..., 3] = _log8(box3(fit(mags[level][1][channel], shape)))
    if channel >= 1:
        y = mags[level][orient][0]
        out[..., 5] = _log8(y)
        out[..., 6] = _log8(box3(y))
    if channel >= 2:
        out[..., 7] = _log8(box3(mags[level][orient][1]))
    return out


def pass_features(static_log: np.ndarray, band: np.ndarray, index, pass_: int, passes: int) -> np.ndarray:
    """(N, N_NUMERIC) features of one pass: equal to ``features(static[mask], pass_maps(...)[mask])``
    but computed at the pass's positions only (fast path for polyphase passes)."""
    if not isinstance(index, tuple):
        passed = _log8(pass_maps(band, pass_, passes)[index])
        return np.concatenate([static_log[index], passed], 1)
    a, b = index[0].start, index[1].start
    h, w = band.shape
    nh, nw = len(range(a, h, 2)), len(range(b, w, 2))
    out = np.zeros((nh, nw, N_NUMERIC), dtype=np.uint8)
    out[..., :8] = static_log[a::2, b::2]
    sees = _SEES[passes][pass_]
    if any(sees):
        p = pad1(band)

        def nb(dy, dx):
            r, c = 1 + a + dy, 1 + b + dx
            return p[r : r + 2 * nh - 1 : 2, c : c + 2 * nw - 1 : 2]

        if sees[0]:
            out[..., 8] = _log8(nb(-1, 0) + nb(1, 0))
        if sees[1]:
            out[..., 9] = _log8(nb(0, -1) + nb(0, 1))
        if sees[2]:
            out[..., 10] = _log8(nb(-1, -1) + nb(-1, 1) + nb(1, -1) + nb(1, 1))
    return out.reshape(-1, N_NUMERIC)


def reach(shape: tuple[int, int], same_level: list[np.ndarray], parent: np.ndarray | None = None) -> np.ndarray:
    """Where a band of ``shape`` can see a change: (h, w) bool, true within one row and column of a
    position changed in any of ``same_level`` (bool maps of the bands of its level it reads 3x3
    around the same position, itself included; one row or column off in size, as :func:`fit`
    aligns them) or within one of a changed ``parent`` position (the co-located parent's 3x3).
    An encoder that changes a few values reruns its context model only there."""
    hit = np.zeros(shape, dtype=bool)
    for changed in same_level:
        hit |= fit(changed, shape)
    hit = box3(hit.astype(np.int8)) > 0
    if parent is not None:
        hit |= upsample(box3(parent.astype(np.int8)) > 0, shape)
    return hit


def pass_positions(shape: tuple[int, int], index, which: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of a pass's positions in :func:`take`'s order (only its ``which``-th ones,
    when given)."""
    if isinstance(index, tuple):
        a, b = index[0].start, index[1].start
        nw = len(range(b, shape[1], 2))
        k = np.arange(len(range(a, shape[0], 2)) * nw) if which is None else np.asarray(which)
        return a + 2 * (k // nw), b + 2 * (k % nw)
    rows, cols = np.nonzero(index)
    return (rows, cols) if which is None else (rows[which], cols[which])


_BOX = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
_SEEN = (((-1, 0), (1, 0)), ((0, -1), (0, 1)), ((-1, -1), (-1, 1), (1, -1), (1, 1)))


class _Padded:
    """A map zero-padded by one around ``shape`` (after :func:`fit`), flat: sums over offsets
    around positions are one gather."""

    def __init__(self, a: np.ndarray, shape: tuple[int, int]):
        self.flat = pad1(fit(a, shape)).reshape(-1)
        self.width = shape[1] + 2

    def sum_at(self, rows: np.ndarray, cols: np.ndarray, offsets) -> np.ndarray:
        at = (rows + 1) * self.width + cols + 1
        steps = np.array([dy * self.width + dx for dy, dx in offsets])
        return self.flat[at[:, None] + steps].sum(axis=1)


class BandFeatures:
    """The features of chosen positions of one band: exactly the rows of :func:`band_statics` +
    :func:`pass_features` there, gathered at those positions only (for an encoder that runs the
    network again at a few positions). The maps of other bands are padded once; the band's own
    (filled pass by pass) at each call."""

    def __init__(self, mags: list[list[np.ndarray]], level: int, channel: int, orient: int):
        self.band = mags[level][orient][channel]
        shape = self.band.shape
        self.maps: dict[int, tuple[_Padded, tuple]] = {}  # feature column -> (map, offsets)
        self.parent = None
        if level + 1 < len(mags):
            self.parent = mags[level + 1][orient][channel]
            self.parent_box = _Padded(self.parent, self.parent.shape)
        if orient >= 1:
            self.maps[2] = (_Padded(mags[level][0][channel], shape), _BOX)
            self.maps[4] = (_Padded(mags[level][orient - 1][channel], shape), ((0, 0),))
        if orient >= 2:
            self.maps[3] = (_Padded(mags[level][1][channel], shape), _BOX)
        if channel >= 1:
            y = _Padded(mags[level][orient][0], shape)
            self.maps[5], self.maps[6] = (y, ((0, 0),)), (y, _BOX)
        if channel >= 2:
            self.maps[7] = (_Padded(mags[level][orient][1], shape), _BOX)

    def __call__(self, rows: np.ndarray, cols: np.ndarray, pass_: int, passes: int) -> np.ndarray:
        """(K, N_NUMERIC) uint8 features at (rows, cols), all of pass ``pass_``."""
        out = np.zeros((len(rows), N_NUMERIC), dtype=np.uint8)
        if self.parent is not None:
            pr = np.minimum(rows // 2, self.parent.shape[0] - 1)
            pc = np.minimum(cols // 2, self.parent.shape[1] - 1)
            out[:, 0] = _log8(self.parent[pr, pc])
            out[:, 1] = _log8(self.parent_box.sum_at(pr, pc, _BOX))
        for k, (padded, offsets) in self.maps.items():
            out[:, k] = _log8(padded.sum_at(rows, cols, offsets))
        seen = [(8 + k, o) for k, (sees, o) in enumerate(zip(_SEES[passes][pass_], _SEEN)) if sees]
        if seen:
            own = _Padded(self.band, self.band.shape)
            for k, offsets in seen:
                out[:, k] = _log8(own.sum_at(rows, cols, offsets))
        return out


def features(static: np.ndarray, passed: np.ndarray) -> np.ndarray:
    """(N, N_NUMERIC) integer neighbour features from the selected positions' maps (N, 8), (N, 3)."""
    return LOG_MAP[np.minimum(np.concatenate([static, passed], axis=1), LOG_CLIP)]


def band_features(quality_code: int, level: int, channel: int, orient: int, pass_: int) -> np.ndarray:
    """(N_BAND,) integers shared by every coefficient of one pass."""
    x = np.zeros(N_BAND, dtype=np.int64)
    x[0] = quality_code
    x[1 + min(level, N_LEVEL_SLOTS - 1)] = HOT
    x[1 + N_LEVEL_SLOTS + orient] = HOT
    x[1 + N_LEVEL_SLOTS + 3 + channel] = HOT
    x[1 + N_LEVEL_SLOTS + 6 + pass_] = HOT  # pass_ < N_PASS_SLOTS
    return x


def band_order(levels: int):
    """Decoding order of the detail bands: coarse to fine, Y C1 C2, HL LH HH, two passes."""
    for level in reversed(range(levels)):
        for channel in range(3):
            for orient in range(3):
                yield level, channel, orient
