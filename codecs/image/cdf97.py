"""Fixed transforms of the ``lwc`` image codec: an orthonormal colour transform and the CDF 9/7
wavelet (JPEG 2000's lossy wavelet) as a lifting scheme in float64 numpy, any image size.

Nothing here is learned or needs torch. Each subband is scaled by the norm of its synthesis basis
(:func:`subband_gains`), so a quantisation error of one unit in any subband costs the same squared
error in pixels: one step size is MSE-balanced across subbands, and because the colour transform
is orthonormal the error in the transformed domain equals the error in RGB.

Layout of a decomposition (``levels`` = L): ``ll`` (3, h_L, w_L) and ``details[l - 1]`` =
(HL, LH, HH) for level l = 1 (finest) .. L, each (3, h, w). Along an axis of length n a level keeps
ceil(n / 2) lowpass and floor(n / 2) highpass samples (whole-sample symmetric extension), so odd
sizes need no padding.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

# Lifting constants of the CDF 9/7 wavelet (Daubechies & Sweldens), with the near-orthonormal scale.
ALPHA, BETA, GAMMA, DELTA = -1.586134342059924, -0.052980118572961, 0.882911075530934, 0.443506852043971
ZETA = 1.149604398860241

# Orthonormal colour transform: Y = (R+G+B)/sqrt3, C1 = (R-B)/sqrt2, C2 = (R-2G+B)/sqrt6 (rows).
COLOUR = np.array([[1, 1, 1], [1, 0, -1], [1, -2, 1]], dtype=np.float64) / np.sqrt([[3.0], [2.0], [6.0]])
MAX_LEVELS = 5


def levels_for(height: int, width: int, max_levels: int = MAX_LEVELS) -> int:
    """Decomposition depth: as deep as ``max_levels`` while the smallest side keeps >= 4 samples."""
    levels, n = 0, min(height, width)
    while levels < max_levels and n >= 8:
        levels, n = levels + 1, (n + 1) // 2
    return levels


def _right(s: np.ndarray, n: int) -> np.ndarray:
    """s[i + 1] for i = 0..n-1 with symmetric extension (s has n or n + 1 entries)."""
    return s[..., 1 : n + 1] if s.shape[-1] > n else np.concatenate([s[..., 1:], s[..., -1:]], -1)


def _left(d: np.ndarray, n: int) -> np.ndarray:
    """d[i - 1] and d[i] for i = 0..n-1 (d has n or n - 1 entries), symmetric at both ends."""
    prev = np.concatenate([d[..., :1], d[..., : n - 1]], -1)
    here = d if d.shape[-1] == n else np.concatenate([d, d[..., -1:]], -1)
    return prev + here


def analysis_1d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lowpass (ceil(n/2)) and highpass (floor(n/2)) halves along the last axis (n >= 2)."""
    s, d = x[..., 0::2].copy(), x[..., 1::2].copy()
    ns, nd = s.shape[-1], d.shape[-1]
    d += ALPHA * (s[..., :nd] + _right(s, nd))
    s += BETA * _left(d, ns)
    d += GAMMA * (s[..., :nd] + _right(s, nd))
    s += DELTA * _left(d, ns)
    return s * ZETA, d / ZETA


def synthesis_1d(s: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Inverse of :func:`analysis_1d`."""
    s, d = s / ZETA, d * ZETA
    ns, nd = s.shape[-1], d.shape[-1]
    s = s - DELTA * _left(d, ns)
    d = d - GAMMA * (s[..., :nd] + _right(s, nd))
    s = s - BETA * _left(d, ns)
    d = d - ALPHA * (s[..., :nd] + _right(s, nd))
    x = np.empty(s.shape[:-1] + (ns + nd,), dtype=np.float64)
    x[..., 0::2], x[..., 1::2] = s, d
    return x


def analysis(x: np.ndarray, levels: int) -> tuple[np.ndarray, list[tuple[np.ndarray, ...]]]:
    """(C, H, W) -> (ll, details) (see module doc); unscaled coefficients."""
    details = []
    ll = np.asarray(x, dtype=np.float64)
    for _ in range(levels):
        lo, hi = analysis_1d(ll)  # along W
        ll, lh = (np.swapaxes(a, -1, -2) for a in analysis_1d(np.swapaxes(lo, -1, -2)))
        hl, hh = (np.swapaxes(a, -1, -2) for a in analysis_1d(np.swapaxes(hi, -1, -2)))
        details.append((hl, lh, hh))
    return ll, details


def synthesis(ll: np.ndarray, details: list[tuple[np.ndarray, ...]]) -> np.ndarray:
    """Inverse of :func:`analysis`."""
    for hl, lh, hh in reversed(details):
        lo = np.swapaxes(synthesis_1d(np.swapaxes(ll, -1, -2), np.swapaxes(lh, -1, -2)), -1, -2)
        hi = np.swapaxes(synthesis_1d(np.swapaxes(hl, -1, -2), np.swapaxes(hh, -1, -2)), -1, -2)
        ll = synthesis_1d(lo, hi)
    return ll


@lru_cache(maxsize=None)
def _path_energies(levels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Squared norms of the 1-D synthesis basis functions: (lowpass after l levels, highpass of
    level l) for l = 1..levels, measured on an impulse far from the borders."""
    n = 1 << (levels + 6)
    lo, hi = [], []
    for level in range(1, levels + 1):
        for band in (0, 1):
            s = [np.zeros(n >> k) for k in range(1, level + 1)]
            d = [np.zeros(n >> k) for k in range(1, level + 1)]
            target = s[-1] if band == 0 else d[-1]
            target[len(target) // 2] = 1.0
            x = s[-1]
            for k in reversed(range(level)):
                x = synthesis_1d(x, d[k])
            (lo if band == 0 else hi).append(float(np.sum(x * x)))
    return tuple(lo), tuple(hi)


def subband_gains(levels: int) -> tuple[float, list[tuple[float, float, float]]]:
    """sqrt of the synthesis energy of ``ll`` and of (HL, LH, HH) at each level: multiply a
    subband by its gain to make the transform (nearly) orthonormal."""
    lo, hi = _path_energies(max(levels, 1))
    details = [(np.sqrt(hi[l] * lo[l]), np.sqrt(lo[l] * hi[l]), np.sqrt(hi[l] * hi[l])) for l in range(levels)]
    ll = np.sqrt(lo[levels - 1] ** 2) if levels else 1.0
    return float(ll), [tuple(float(g) for g in t) for t in details]


# A per-image colour basis is the fixed one turned by three angles (codes: signed bytes, pi/128 each).
ANGLE_STEP = np.pi / 128
NO_TURN = (0, 0, 0)


def colour_basis(codes: tuple[int, int, int] = NO_TURN) -> np.ndarray:
    """The orthonormal basis (rows) ``Rz(c) Ry(b) Rx(a) COLOUR`` of angle codes (a, b, c)."""
    if tuple(codes) == NO_TURN:
        return COLOUR
    a, b, c = (float(k) * ANGLE_STEP for k in codes)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx @ COLOUR


def own_colour(rgb: np.ndarray) -> tuple[int, int, int]:
    """Angle codes of an image's own colour basis: the eigenvectors of its RGB gradients'
    covariance (a Karhunen-Loeve transform of what the detail bands hold), largest first, each
    signed like the fixed basis row it replaces. Flat, tiny or grey images keep the fixed basis."""
    z = np.asarray(rgb, np.float64).transpose(2, 0, 1)
    grads = np.concatenate([np.diff(z, axis=1).reshape(3, -1), np.diff(z, axis=2).reshape(3, -1)], 1)
    if grads.shape[1] < 64:
        return NO_TURN
    cov = grads @ grads.T / grads.shape[1]
    values, vectors = np.linalg.eigh(cov)
    if not values[-1] > 0 or values[1] < 1e-6 * values[-1]:  # no colour detail to decorrelate
        return NO_TURN
    v = vectors[:, ::-1].T
    v *= np.where(np.sum(v * COLOUR, axis=1) < 0, -1.0, 1.0)[:, None]
    d = v @ COLOUR.T  # the turn from the fixed basis: Rz(c) Ry(b) Rx(a)
    if np.linalg.det(d) < 0:  # a mirror, not a turn: give up the last row's sign
        d[2] = -d[2]
    a, b, c = np.arctan2(d[2, 1], d[2, 2]), -np.arcsin(np.clip(d[2, 0], -1.0, 1.0)), np.arctan2(d[1, 0], d[0, 0])
    return tuple(int(np.clip(np.round(t / ANGLE_STEP), -128, 127)) for t in (a, b, c))


def to_colour(rgb: np.ndarray, basis: np.ndarray = COLOUR) -> np.ndarray:
    """(H, W, 3) pixels in 0..255 -> (3, H, W) centred orthonormal colour channels."""
    return np.tensordot(basis, np.asarray(rgb, np.float64).transpose(2, 0, 1) - 127.5, axes=1)


def from_colour(x: np.ndarray, basis: np.ndarray = COLOUR) -> np.ndarray:
    """Inverse of :func:`to_colour`: (H, W, 3) float pixels (not clipped)."""
    return np.tensordot(basis.T, x, axes=1).transpose(1, 2, 0) + 127.5


def forward(rgb: np.ndarray, levels: int, basis: np.ndarray = COLOUR) -> tuple[np.ndarray, list[tuple[np.ndarray, ...]]]:
    """(H, W, 3) pixels in 0..255 -> balanced coefficients (each subband times its gain)."""
    ll, details = analysis(to_colour(rgb, basis), levels)
    g_ll, g = subband_gains(levels)
    return ll * g_ll, [tuple(b * gb for b, gb in zip(bands, gains)) for bands, gains in zip(details, g)]


def inverse(ll: np.ndarray, details: list[tuple[np.ndarray, ...]], basis: np.ndarray = COLOUR) -> np.ndarray:
    """Inverse of :func:`forward`: (H, W, 3) float pixels (not clipped)."""
    g_ll, g = subband_gains(len(details))
    return from_colour(synthesis(ll / g_ll, [tuple(b / gb for b, gb in zip(bands, gains)) for bands, gains in zip(details, g)]),
                       basis)
