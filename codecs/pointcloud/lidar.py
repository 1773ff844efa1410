"""LiDAR predictive codec (in the spirit of LiZIP): a small network predicts every point from the
K previously *reconstructed* points of its ring, and the integer residuals are range-coded under
discretised Laplace tables whose scale the same network predicts.

Coding (per file):

* coordinates are quantised to the user's step: ``q = round(xyz / step)``; the reconstruction is
  ``q * step``, so the error is at most ``step / 2`` per coordinate (zero when the input already lies
  on that grid, e.g. KITTI at 1 mm). Prediction never feeds back into the quantiser, so there is
  no drift: decoded points equal the encoder's reconstruction exactly.
* intensity is coded **losslessly** when it lies on a decimal grid 10^-k (k <= 6; KITTI: 0.01,
  nuScenes/LAS: integers), otherwise quantised to a step of max|intensity| / 65535 (stated in ``info``).
* point order: :mod:`ncodec.codecs.pointcloud.order` (rings by laser and azimuth, else voxel order).
  Each ring is split into blocks of at most ``block_len`` points that are decoded in parallel
  (one network evaluation per step for all blocks). A block's first point is coded in a separate
  section (delta from the previous block's first point).
* for each other point the network sees the previous K points in a local frame (radial,
  tangential in the scan direction, vertical), the range and height, and the previous intensities; it outputs a mean
  offset (3 coordinates + intensity) and four log-scales. The coordinate residual is coded main
  horizontal axis first; the other two are coded after removing the part a pure range error would
  cause (``e_other - round(e_main * u_other / u_main)``, ``e_z - round(e_main * tan(elev) / u_main)``).

Per-file calibration: the encoder measures, for each point class (far / near segments of a ring;
one class without a ring column) and each of the four coded components, the whole number of
table steps (1/3 octave) by which the network's scales should move to minimise this file's code
length, and stores these 8 small integers in the header. The learned model thus adapts to a
sensor it was not trained on (another azimuth resolution, the vehicle's own body near the sensor)
at the cost of 8 bytes, and the decoder applies the same integer shifts.

Never worse than raw (payload version 2): after calibration the encoder compares, for the
intensity and then for the geometry, the code length under the model with the fixed-width binary
cost of the values (``ceil(log2(range))`` bits each, at least 1) and codes the group raw when that
is smaller (by the ideal code length, or by the real sections when the two are within 10% or
1 KB). Raw intensities are noise to the network, so it then sees zeros for them (as for a cloud
without intensity). A KITTI frame whose reflectance is uniform 16-bit noise: 21.6 -> 15.9 bits per
point for the intensity, 1.064x -> 0.896x LASzip. Version 2 also leaves an absent intensity
uncoded. Payload version 1 files (three sections, every component modelled) still decode.

Decoder bounds: every header size is checked before anything is allocated (points, rings and
segments per order mode, block length, the raw section's exact size, at most
``1.25 * 8 * bytes / min_symbol_bits`` symbols in a range-coded section, the ring section inflated
to exactly ``4 * rings`` bytes), decoded residuals and points must stay below 2^40 grid steps, and
the decoded coordinates and intensities must be finite in float32.

Why decoding is bit-exact on every machine: the features and the geometry use only float64
``+ - * /`` and ``sqrt``, element by element (numpy ufuncs, one operation each: no reductions, no
transcendental functions, nothing an FMA could fuse), which IEEE 754 rounds correctly, i.e.
identically everywhere. The network is evaluated in fixed point: inputs and weights are integers
(12 fractional bits) carried in float64 and every partial sum of every matrix product is an
integer below 2^53 (bounded from the weights' L1 norms when the model loads), so BLAS returns the exact result whatever its summation order or threading. Table
selection and all residual arithmetic are integer operations, and the Laplace tables are built
from stored integers by integer arithmetic (:mod:`ncodec.entropy.laplace`).
"""
from __future__ import annotations

import functools
import math
import os
import struct
import zlib

import numpy as np
import torch
from torch import nn

from ncodec import timing
from ncodec.codecs.pointcloud import order as ordering
from ncodec.codecs.pointcloud import payloads
from ncodec.codecs.pointcloud.payloads import (MAX_COORD as _MAX_COORD, MAX_SHIFT as _MAX_SHIFT,
                                                MAX_STEP, N_CLASSES, PAYLOAD_VERSION, RAW_GEOMETRY, RAW_INTENSITY)
from ncodec.codecs.pointcloud.payloads import describe_lidar as describe_payload, parse_lidar as parse_payload
from ncodec.codecs.pointcloud.grid import quantise
from ncodec.codecs.registry import register_codec
from ncodec.entropy import laplace, limits, multistream, rangecoder
from ncodec.errors import FormatError, InputError

K = 4  # context points
FRAC = 12  # fixed-point fractional bits of features, weights and outputs
N_FEATURES = 3 * (K - 1) + 2 + K
N_OUT = 8
_EXACT = 2.0**53
ENCODE_THREADS = min(os.cpu_count() or 1, 2)
_CHUNK = 16384  # points per network evaluation when encoding
_FLOAT32_MAX = float(np.finfo(np.float32).max)


# ---------------------------------------------------------------------------------------------
# features and geometry (float64, element-wise IEEE operations only)

def _frame(p1: np.ndarray):
    """Unit radial (u) direction of the previous point in the horizontal plane, the main axis
    and the two range-error coupling factors."""
    x, y, z = p1[:, 0], p1[:, 1], p1[:, 2]
    rho = np.sqrt(x * x + y * y)
    safe = np.where(rho > 0, rho, 1.0)
    ux = np.where(rho > 0, x / safe, 1.0)
    uy = np.where(rho > 0, y / safe, 0.0)
    main = (np.abs(uy) > np.abs(ux)).astype(np.int64)
    um = np.where(main == 0, ux, uy)
    uo = np.where(main == 0, uy, ux)
    k_other = uo / um
    k_z = np.clip(np.where(rho > 0, z / (safe * um), 0.0), -4.0, 4.0)
    return rho, ux, uy, main, k_other, k_z


def features(P: np.ndarray, I: np.ndarray, step: float, inorm: float):
    """``P`` (n, K, 3) previous points (most recent first) in grid units, ``I`` (n, K) previous
    intensities in their units. Returns (features (N_FEATURES + 1, n) float64, feature-major, the
    last row the constant 1; frame)."""
    p1 = P[:, 0]
    frame = _frame(p1)
    rho, ux, uy = frame[0], frame[1], frame[2]
    n = len(P)
    f = np.empty((N_FEATURES + 1, n))
    f[N_FEATURES] = 1.0  # the constant input that carries the biases
    sign = None
    scale = step * 16.0
    for j in range(1, K):
        d = p1 - P[:, j]
        r = 3 * (j - 1)
        np.multiply(d[:, 0], ux, out=f[r])
        f[r] += d[:, 1] * uy
        np.multiply(d[:, 1], ux, out=f[r + 1])
        f[r + 1] -= d[:, 0] * uy
        if sign is None:  # scan direction: the tangential frame always points forward
            sign = np.where(f[r + 1] < 0, -1.0, 1.0)
        f[r + 1] *= sign
        f[r + 2] = d[:, 2]
    f[: 3 * (K - 1)] *= scale
    np.clip(f[: 3 * (K - 1)], -64.0, 64.0, out=f[: 3 * (K - 1)])
    r = 3 * (K - 1)
    np.clip(rho * (step / 32.0), 0.0, 8.0, out=f[r])  # step / 32 is exact: a power-of-two division
    np.clip(p1[:, 2] * (step / 4.0), -8.0, 8.0, out=f[r + 1])
    np.clip(I[:, 0] / inorm, -4.0, 4.0, out=f[r + 2])
    for j in range(1, K):
        np.clip((I[:, 0] - I[:, j]) / inorm, -4.0, 4.0, out=f[r + 2 + j])
    return f, frame + (sign,)


def predict_points(p1: np.ndarray, i1: np.ndarray, out: np.ndarray, frame, step: float, inorm: float):
    """Integer predictions from the network output (``out`` already divided to real units)."""
    ux, uy, sign = frame[1], frame[2], frame[6]
    dr, dt, dz = out[0] / 16.0, out[1] / 16.0 * sign, out[2] / 16.0  # metres
    px = p1[:, 0] + (dr * ux - dt * uy) / step
    py = p1[:, 1] + (dr * uy + dt * ux) / step
    pz = p1[:, 2] + dz / step
    pred = np.floor(np.stack([px, py, pz], axis=1) + 0.5)
    ipred = np.floor(i1 + out[3] * inorm + 0.5)
    return pred.astype(np.int64), ipred.astype(np.int64)


def round_coupling(e_main, k):
    """The coder's coupling term: ``round(e_main * k)`` as an integer (ties up), numpy or torch."""
    if isinstance(e_main, torch.Tensor):
        return torch.floor(e_main * k + 0.5).to(torch.int64)
    return np.floor(e_main * k + 0.5).astype(np.int64)


def condition(e, main, k_other, k_z, coupling=round_coupling):
    """Coordinate residuals ``e`` (n, 3) -> the coded components: the main horizontal axis
    ``e_main``, then the other two less what a pure range error of ``e_main`` would cause
    (``e_other - coupling(e_main, k_other)``, ``e_z - coupling(e_main, k_z)``).

    The one definition for the encoder (numpy, :func:`round_coupling`) and the training loss
    (torch, a relaxed ``coupling``); :func:`uncondition` is the decoder's inverse."""
    xp = torch if isinstance(e, torch.Tensor) else np
    rows = xp.arange(len(e))
    em = e[rows, main]
    eo = e[rows, 1 - main] - coupling(em, k_other)
    ez = e[:, 2] - coupling(em, k_z)
    return xp.stack([em, eo, ez], 1)


def uncondition(s: np.ndarray, main: np.ndarray, k_other: np.ndarray, k_z: np.ndarray) -> np.ndarray:
    """Inverse of :func:`condition` with :func:`round_coupling` (the decoder): (n, 3) int64."""
    rows = np.arange(len(s))
    e = np.empty((len(s), 3), np.int64)
    e[rows, main] = s[:, 0]
    e[rows, 1 - main] = s[:, 1] + round_coupling(s[:, 0], k_other)
    e[:, 2] = s[:, 2] + round_coupling(s[:, 0], k_z)
    return e


# ---------------------------------------------------------------------------------------------
# the network: float for training, exact fixed point for coding

class Predictor(nn.Module):
    """MLP with a linear skip: out = W3 relu(W2 relu(W1 x)) + Ws x."""

    def __init__(self, hidden: int = 32):
        super().__init__()
        self.l1 = nn.Linear(N_FEATURES, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, N_OUT)
        self.skip = nn.Linear(N_FEATURES, N_OUT, bias=False)
        with torch.no_grad():
            self.l3.weight.mul_(0.1)
            self.l3.bias.zero_()
            self.l3.bias[4:7] = -7.0  # log2 scales ~ 8 mm to start
            self.l3.bias[7] = -5.0
            self.skip.weight.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.l2(torch.relu(self.l1(x))))
        return self.l3(h) + self.skip(x)


def _fixed(t: torch.Tensor, bits: int) -> np.ndarray:
    return np.round(t.detach().cpu().double().numpy() * 2.0**bits)


class FixedPredictor:
    """Exact integer evaluation of :class:`Predictor` (float64 carriers, all sums below 2^53).

    Weights have FRAC fractional bits, biases 2 FRAC (a multiple of 2^FRAC, so they ride along in
    the matrix product as the weight of a constant input 2^FRAC); after each layer
    ``floor(acc / 2^FRAC)`` and ReLU. The largest possible accumulator of every layer is bounded
    from the weights' L1 norms when the model loads and must stay below 2^53."""

    def __init__(self, net: Predictor):
        def bias(t):  # 2 FRAC fractional bits, multiple of 2^FRAC
            return _fixed(t, FRAC) * 2.0**FRAC

        self.w1, self.b1 = _fixed(net.l1.weight.T, FRAC), bias(net.l1.bias)
        self.w2, self.b2 = _fixed(net.l2.weight.T, FRAC), bias(net.l2.bias)
        self.w3, self.b3 = _fixed(net.l3.weight.T, FRAC), bias(net.l3.bias)
        self.ws = _fixed(net.skip.weight.T, FRAC)
        # transposed, bias as the last input column (the constant input is 2^FRAC)
        self.t1 = np.ascontiguousarray(np.vstack([self.w1, self.b1 / 2.0**FRAC]).T)
        self.t2 = np.ascontiguousarray(np.vstack([self.w2, self.b2 / 2.0**FRAC]).T)
        self.t3 = np.ascontiguousarray(np.vstack([self.w3, self.b3 / 2.0**FRAC]).T)
        self.ts = np.ascontiguousarray(np.vstack([self.ws, np.zeros((1, N_OUT))]).T)
        x_max = 64.0 * 2**FRAC + 1
        acc1 = x_max * np.abs(self.t1).sum(axis=1).max()
        h1 = acc1 / 2.0**FRAC + 1
        acc2 = max(h1, 2.0**FRAC) * np.abs(self.t2).sum(axis=1).max()
        h2 = acc2 / 2.0**FRAC + 1
        acc3 = max(h2, 2.0**FRAC) * np.abs(self.t3).sum(axis=1).max() + x_max * np.abs(self.ts).sum(axis=1).max()
        if not max(acc1, acc2, acc3) < _EXACT:
            raise FormatError("predictor weights too large for exact evaluation")

    def __call__(self, feats: np.ndarray) -> np.ndarray:
        """Features (N_FEATURES + 1, n) float64, the last row the constant 1 (overwritten) ->
        outputs (N_OUT, n) as integers with FRAC fractional bits (float64). Feature-major layout:
        the wide dimension is contiguous."""
        x = feats
        x *= 2.0**FRAC
        x += 0.5
        np.floor(x, out=x)
        h = self._layer(self.t1, x)
        h = self._layer(self.t2, h)
        out = self.t3 @ h
        out += self.ts @ x
        out *= 2.0**-FRAC
        return np.floor(out, out=out)

    @staticmethod
    def _layer(t, x):
        h = np.empty((t.shape[0] + 1, x.shape[1]))
        np.matmul(t, x, out=h[:-1])
        h[:-1] *= 2.0**-FRAC
        np.floor(h[:-1], out=h[:-1])
        np.maximum(h[:-1], 0.0, out=h[:-1])
        h[-1] = 2.0**FRAC
        return h


# ---------------------------------------------------------------------------------------------
# the codec

# The payload's layout and checks: :mod:`ncodec.codecs.pointcloud.payloads` (read by ``ncodec info``).
_PAYLOAD, _EXTENSION = payloads.LIDAR_PAYLOAD, payloads.LIDAR_EXTENSION
_RAW_COLUMN = struct.Struct("<qB")  # per raw column: minimum value, bits per value
_MAX_RAW_WIDTH = 42
_SHIFT_STEP = 3  # calibration search: steps of one octave, then single table steps
_CALIBRATION_SAMPLE = 4096


def choose_grid(values: np.ndarray, float32: bool, max_k: int = 6) -> int | None:
    """Smallest k with every value exactly on the 10^-k grid (in the input's precision), else None."""
    v = values.astype(np.float32) if float32 else values
    for k in range(max_k + 1):
        d = 10**k
        back = np.round(values * d) / d
        if np.array_equal(back.astype(np.float32) if float32 else back, v):
            return k
    return None


@register_codec("lidar", "pointcloud", "LiDAR predictive codec: neural point prediction + learned Laplace rates")
class LidarCodec(nn.Module):
    def __init__(self, hidden: int = 32, n_tables: int = 48, block_len: int = 512):
        super().__init__()
        self.config = {"hidden": hidden, "n_tables": n_tables, "block_len": block_len}
        self.net = Predictor(hidden)
        self.register_buffer("thetas", torch.from_numpy(laplace.thetas(n_tables)))
        self._fixed = None
        self._tables = None
        self._min_bits = None

    rate_parameter = "precision"

    # -- exact helpers ----------------------------------------------------------------------------
    def fixed(self) -> FixedPredictor:
        key = tuple(p.data_ptr() for p in self.parameters()) + tuple(p._version for p in self.parameters())
        if self._fixed is None or self._fixed[0] != key:
            self._fixed = (key, FixedPredictor(self.net))
        return self._fixed[1]

    def tables(self):
        if self._tables is None:
            self._tables = laplace.table_set(*laplace.build_tables(self.thetas.cpu().numpy()))
        return self._tables

    def _tables_of(self, out: np.ndarray, o_geo: int, o_int: int) -> np.ndarray:
        n_t = len(self.tables())
        geo = laplace.table_index(out[4:7].T.astype(np.int64) + o_geo, FRAC, n_t)
        inten = laplace.table_index(out[7].astype(np.int64) + o_int, FRAC, n_t)
        return np.concatenate([geo, inten[:, None]], axis=1)

    # -- encoder --------------------------------------------------------------------------------
    def prepare(self, xyz: np.ndarray, intensity: np.ndarray | None, ring: np.ndarray | None,
                step: float, grid_k: int | None = None) -> dict:
        """Quantise and order a cloud; everything both the encoder and the training data need."""
        if not (np.isfinite(step) and 0 < step <= MAX_STEP):
            raise InputError(f"precision must be a positive number of metres up to {MAX_STEP:g}, got {step}")
        q = quantise(xyz, step)
        if np.abs(q).max() >= _MAX_COORD:
            raise InputError(f"precision {step} is too fine for coordinates up to {np.abs(xyz).max():.3g} m")
        q = q.astype(np.int64)
        divisor = 0
        inv = 1.0 / step
        if abs(inv - round(inv)) < 1e-9 * inv and round(inv) < 2**31:
            divisor = int(round(inv))  # decode as q / divisor: exact decimal grids stay exact
        if intensity is None:
            has_i, idiv, istep, ivals = 0, 0, 0.0, np.zeros(len(q), np.int64)
        else:
            k = choose_grid(intensity, float32=True) if grid_k is None else grid_k
            if k is not None and np.abs(intensity).max() * 10**k >= _MAX_COORD:
                k = None  # integers too large for exact coding: quantise to 16 bits instead
            if k is not None:
                idiv, istep = 10**k, 0.0
                ivals = np.round(intensity * idiv).astype(np.int64)
            else:
                peak = float(np.abs(intensity).max())  # > 0: zero lies on every grid
                idiv, istep = 0, peak / 65535.0
                ivals = np.round(intensity / istep).astype(np.int64)
            has_i = 1
        mode, perm, ring_lengths = ordering.point_order(q, ring, step)
        return {"q": q[perm], "i": ivals[perm], "mode": mode, "ring_lengths": ring_lengths, "step": float(step),
                "divisor": divisor, "has_i": has_i, "idiv": idiv, "istep": float(istep), "perm": perm}

    def contexts(self, q: np.ndarray, iv: np.ndarray, starts: np.ndarray, lengths: np.ndarray):
        """Indices of the non-start points and their K previous points (padded with the block's
        first point)."""
        n = len(q)
        block_of = np.repeat(np.arange(len(starts)), lengths)
        first = starts[block_of]
        idx = np.arange(n)
        coded = idx[idx != first]
        ctx = np.stack([np.maximum(coded - j, first[coded]) for j in range(1, K + 1)], axis=1)
        return coded, ctx, block_of

    def compress(self, x, precision: float) -> dict:
        """``x``: a :class:`~ncodec.media.pointcloud.Cloud`; ``precision``: the grid step in metres.
        ``x_hat``: the decoder's output (``xyz``, ``intensity``, ``ring``, in coded order), the
        input order of each point (``perm``) and the largest per-coordinate error (``max_error``)."""
        prep = self.prepare(x.xyz, x.intensity, x.ring, float(precision))
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(ENCODE_THREADS) as pool:  # owned by this call: no thread outlives it
            strings, payload = self._code(prep, pool)
        q, div, step = prep["q"], prep["divisor"], prep["step"]
        xyz = q / float(div) if div else q * step
        intensity = None
        if prep["has_i"]:
            intensity = prep["i"] / float(prep["idiv"]) if prep["idiv"] else prep["i"] * prep["istep"]
        original = x.xyz[prep["perm"]]
        x_hat = {"xyz": xyz, "intensity": intensity, "ring": ordering.ring_ids(prep["mode"], prep["ring_lengths"]),
                 "perm": prep["perm"], "grid": step,
                 "max_error": float(np.abs(original - xyz).max()) if len(xyz) else 0.0}
        return {"strings": strings, "payload": payload, "x_hat": x_hat}

    def _code(self, prep: dict, pool) -> tuple[list[bytes], bytes]:
        """The sections and payload of a prepared cloud; ``pool`` runs the network's chunks."""
        q, iv, step = prep["q"], prep["i"], prep["step"]
        n = len(q)
        block_len = self.config["block_len"]
        starts, lengths = ordering.blocks(prep["ring_lengths"], block_len)
        inorm = float(max(int(np.abs(iv).max()), 1))
        o_geo = int(round(math.log2(1.0 / step) * 2**FRAC))
        o_int = int(round(math.log2(inorm) * 2**FRAC))
        coded, ctx, block_of = self.contexts(q, iv, starts, lengths)
        net = self.fixed()

        qf = q.astype(np.float64)

        def predict(ivf: np.ndarray, rows: slice):  # rows are independent: chunks run in threads (numpy frees the GIL)
            P = qf[ctx[rows]]
            I = ivf[ctx[rows]]
            feats, frame = features(P, I, step, inorm)
            out = net(feats)
            pred, ipred = predict_points(P[:, 0], I[:, 0], out / 2.0**FRAC, frame, step, inorm)
            sym = condition(q[coded[rows]] - pred, frame[3], frame[4], frame[5])
            sym = np.concatenate([sym, (iv[coded[rows]] - ipred)[:, None]], axis=1)
            return sym, self._tables_of(out, o_geo, o_int)

        m = len(coded)
        # chunks small enough for each layer's activations to stay in cache: a KITTI sweep's
        # compress takes 73 ms (median) in 16k-point chunks against 97 ms in one chunk per thread
        chunks = [slice(i, min(i + _CHUNK, m)) for i in range(0, m, _CHUNK)] or [slice(0, 0)]
        point_class = self._block_classes(prep["mode"], prep["ring_lengths"], starts)[block_of[coded]]

        def model(ivf: np.ndarray):
            """Residual symbols, calibrated tables and shifts with ``ivf`` as the intensity context."""
            run = functools.partial(predict, ivf)
            parts = pool.map(run, chunks) if ENCODE_THREADS > 1 and len(chunks) > 1 else map(run, chunks)
            sym, tabs = np.empty((m, 4), np.int64), np.empty((m, 4), np.int64)
            for rows, (s_, t_) in zip(chunks, parts):  # each chunk's arrays freed as it is placed (memory)
                sym[rows], tabs[rows] = s_, t_
            shifts = self._calibrate(sym, tabs, point_class)
            return sym, self._shifted(tabs, shifts, point_class), shifts

        def values(columns) -> np.ndarray:
            """(n, len(columns)) of the coded integers (x, y, z, intensity), built when needed
            (memory: never all four at once unless they all go raw)."""
            return np.column_stack([q[:, c] if c < 3 else iv for c in columns]) if columns else np.zeros((n, 0), np.int64)

        def streams(raw: int, sym: np.ndarray, tabs: np.ndarray) -> dict:
            """The coded sections for a raw-components choice."""
            comps = modelled_components(raw, prep["has_i"], PAYLOAD_VERSION)
            cols = slice(None) if len(comps) == 4 else comps  # all four: no copies
            flat_sym, flat_tab = _decoder_order(coded, block_of, starts, lengths, sym[:, cols], tabs[:, cols])
            with timing.stage("entropy"):
                main = multistream.encode(flat_sym, flat_tab, self.tables())
                first = np.column_stack([q[starts], iv[starts]])
                first[:, [c for c in range(4) if c not in comps]] = 0  # raw columns: their values are in the raw section
                start_syms = np.diff(np.concatenate([np.zeros((1, 4), np.int64), first]), axis=0)
                start_tables = self._start_tables(start_syms)
                starts_data = rangecoder.encode(start_syms, np.broadcast_to(start_tables, start_syms.shape),
                                                self.tables())
            raw_data = pack_raw(values(raw_columns(raw)))
            return {"raw": raw, "main": main, "starts": starts_data, "start_tables": start_tables, "raw_data": raw_data,
                    "bytes": len(main) + len(starts_data) + len(raw_data)}

        def close(model_bits: float, raw_bits_: float) -> bool:
            """Too close for the ideal code length to decide (small files pay the streams' headers)."""
            return abs(model_bits - raw_bits_) < 0.1 * raw_bits_ + 8 * 1024

        # Never worse than raw: a component group (intensity, then geometry) goes raw when that is
        # smaller, decided by the ideal code length, or by the real sections when they are close.
        # Raw intensities are noise to the network: it then sees zeros, as without intensity.
        sym, tabs, shifts = model(iv.astype(np.float64))
        raw = 0
        if prep["has_i"]:
            m_bits, r_bits = self._model_bits(sym[:, 3], tabs[:, 3]), raw_bits(iv[:, None])
            if r_bits < m_bits or close(m_bits, r_bits):
                alternative = (RAW_INTENSITY,) + model(np.zeros(n))
                if close(m_bits, r_bits) and \
                        streams(0, sym, tabs)["bytes"] <= streams(RAW_INTENSITY, *alternative[1:3])["bytes"]:
                    alternative = (0, sym, tabs, shifts)
                raw, sym, tabs, shifts = alternative
        ctx = qf = None  # (the network's inputs: the streams need neither; memory)
        m_bits, r_bits = self._model_bits(sym[:, :3], tabs[:, :3]), raw_bits(q)
        chosen = None
        if close(m_bits, r_bits):
            options = [streams(raw, sym, tabs), streams(raw | RAW_GEOMETRY, sym, tabs)]
            chosen = min(options, key=lambda o: o["bytes"])
        elif r_bits < m_bits:
            raw |= RAW_GEOMETRY
        chosen = chosen or streams(raw, sym, tabs)
        raw, main, starts_data, start_tables, raw_data = (chosen[k] for k in ("raw", "main", "starts", "start_tables",
                                                                               "raw_data"))
        rings = zlib.compress(prep["ring_lengths"].astype("<u4").tobytes(), 9)
        payload = _PAYLOAD.pack(n, prep["mode"], block_len, step, prep["divisor"], o_geo, prep["has_i"],
                                prep["idiv"], prep["istep"], int(inorm), o_int, *start_tables.tolist(),
                                len(prep["ring_lengths"]), *shifts.ravel().tolist())
        return [rings, starts_data, main, raw_data], payload + _EXTENSION.pack(PAYLOAD_VERSION, raw)

    def _model_bits(self, sym: np.ndarray, tabs: np.ndarray) -> float:
        """Code length in bits of ``sym`` under ``tabs``: the range-coded symbols (ideal length,
        which the coder meets within a fraction of a percent) plus the real varint bytes of the
        escaped values; from an evenly spaced sample of at most ``_CALIBRATION_SAMPLE * 4`` rows,
        scaled (close calls are settled on the real sections)."""
        tset = self.tables()
        stride = max(1, len(sym) // (4 * _CALIBRATION_SAMPLE))
        scale = len(sym) / max(len(sym[::stride]), 1)
        return scale * self._sample_bits(tset, sym[::stride].reshape(-1), tabs[::stride].reshape(-1))

    @staticmethod
    def _sample_bits(tset, v: np.ndarray, t: np.ndarray) -> float:
        _, overflow = rangecoder.split_escapes(v.copy(), t, tset)
        varint_bytes = np.maximum(1, -(-_bit_length(overflow) // 7)).sum() if len(overflow) else 0
        return tset.code_length(v, t, escape_bits=0) + 8.0 * varint_bytes

    def min_symbol_bits(self) -> float:
        """The fewest bits any one range-coded symbol can cost (the most probable symbol of the
        most peaked table): bounds how many symbols a section of a given size can hold."""
        if getattr(self, "_min_bits", None) is None:
            tset = self.tables()
            best = 64.0
            for t in range(len(tset)):
                counts = np.diff(tset.cdfs[t, : tset.lengths[t]])
                best = min(best, float(np.log2(counts.sum() / counts.max())))
            self._min_bits = best
        return self._min_bits

    # -- per-file calibration -------------------------------------------------------------------
    @staticmethod
    def _block_classes(mode: int, ring_lengths: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Class of every block: in ring mode a ring's far segment is class 0, its near one 1."""
        if mode != ordering.MODE_RING:
            return np.zeros(len(starts), np.int64)
        segment = np.searchsorted(np.cumsum(ring_lengths), starts, side="right")
        return segment % 2

    def _shifted(self, tabs: np.ndarray, shifts: np.ndarray, point_class: np.ndarray) -> np.ndarray:
        out = tabs + (shifts[point_class] if point_class.any() else shifts[0])
        return np.clip(out, 0, len(self.tables()) - 1, out=out)

    def _calibrate(self, sym: np.ndarray, tabs: np.ndarray, point_class: np.ndarray) -> np.ndarray:
        """The table shifts (N_CLASSES, 4) that minimise the code length of a sample of each class
        (encoder only: the result is stored)."""
        tset = self.tables()
        n_t = len(tset)
        shifts = np.zeros((N_CLASSES, 4), np.int64)
        for c in range(N_CLASSES):
            rows = np.flatnonzero(point_class == c)
            if len(rows) == 0:
                continue
            rows = rows[:: max(1, len(rows) // _CALIBRATION_SAMPLE)]
            for k in range(4):
                v, t = sym[rows, k], tabs[rows, k]

                def cost(d):
                    return tset.code_length(v, np.clip(t + d, 0, n_t - 1))

                shifts[c, k] = _descend(cost, _SHIFT_STEP, _MAX_SHIFT)
        return shifts

    def _start_tables(self, d: np.ndarray) -> np.ndarray:
        if len(d) < 2:
            return np.zeros(4, np.int64)
        mean_abs = np.abs(d[1:]).mean(axis=0) + 0.5
        log2 = np.floor(np.log2(mean_abs) * 2**FRAC)  # encoder only: stored in the header
        return laplace.table_index(log2, FRAC, len(self.tables()))

    # -- decoder --------------------------------------------------------------------------------
    def decompress(self, strings: list[bytes], payload: bytes, precision: float | None = None) -> dict:
        """``precision`` (the header's f32) is informative: the exact step is in the payload."""
        sections = strings
        h = parse_payload(payload)
        n, step, inorm, raw = h["points"], h["step"], float(h["inorm"]), h["raw"]
        if len(sections) != h["sections"]:
            raise FormatError(f"LiDAR file has {len(sections)} sections, its payload version needs {h['sections']}")
        if h["start_tables"].max() >= len(self.tables()):
            raise FormatError("point-cloud description is invalid (start table)")
        # every size is checked before anything of that size is allocated
        raw_data = b"" if h["version"] == 1 else sections[3]
        comps = modelled_components(raw, h["has_i"], h["version"])
        raw_values = unpack_raw(raw_data, n, len(raw_columns(raw)))  # exact size: at most 8 points per raw byte
        ring_lengths = np.frombuffer(limits.inflate(sections[0], 4 * h["rings"]), dtype="<u4").astype(np.int64)
        if len(ring_lengths) != h["rings"] or ring_lengths.sum() != n:
            raise FormatError("ring section does not match the point count")
        n_blocks = int((-(-ring_lengths // h["block_len"])).sum())
        self._check_symbols(4 * n_blocks, sections[1], "start")
        self._check_symbols(len(comps) * (n - n_blocks), sections[2], "residual")
        starts, lengths = ordering.blocks(ring_lengths, h["block_len"])
        block_class = self._block_classes(h["mode"], ring_lengths, starts)
        shifts, o_geo, o_int = h["shifts"], h["o_geo"], h["o_int"]
        nb = len(starts)
        with timing.stage("entropy"):
            d = rangecoder.decode(sections[1], np.broadcast_to(h["start_tables"], (nb, 4)), self.tables())
        _check_range(d, 2 * _MAX_COORD, "start point")
        first = np.cumsum(d, axis=0)
        q = np.empty((n, 3), np.int64)
        iv = np.empty(n, np.int64)
        geo_coded, int_coded = 0 in comps, 3 in comps
        raw_cols = iter(range(raw_values.shape[1]))
        if not geo_coded:
            q[:] = raw_values[:, [next(raw_cols) for _ in range(3)]]
            first[:, :3] = q[starts]
        if not int_coded:  # raw, or no intensity at all (zeros)
            iv[:] = raw_values[:, next(raw_cols)] if raw & RAW_INTENSITY else 0
            first[:, 3] = iv[starts]
        _check_range(first, _MAX_COORD, "start point")
        q[starts], iv[starts] = first[:, :3], first[:, 3]
        # rolling contexts per block, most recent first (raw intensities: the network sees zeros)
        P = np.repeat(first[:, None, :3].astype(np.float64), K, axis=1)
        I = np.repeat(first[:, None, 3].astype(np.float64) if int_coded else np.zeros((nb, 1)), K, axis=1)
        dec = multistream.Decoder(sections[2], self.tables())
        net = self.fixed()
        for t in range(1, int(lengths.max()) if nb and comps else 0):
            active = np.flatnonzero(lengths > t)
            pos = starts[active] + t
            Pa, Ia = P[active], I[active]
            feats, frame = features(Pa, Ia, step, inorm)
            # in chunks: the network's activations stay bounded however many blocks a file has
            out = net(feats) if feats.shape[1] <= _CHUNK else \
                np.concatenate([net(feats[:, i : i + _CHUNK]) for i in range(0, feats.shape[1], _CHUNK)], axis=1)
            pred, ipred = predict_points(Pa[:, 0], Ia[:, 0], out / 2.0**FRAC, frame, step, inorm)
            tabs = self._shifted(self._tables_of(out, o_geo, o_int), shifts, block_class[active])
            with timing.stage("entropy"):
                s = dec.decode((tabs if len(comps) == 4 else tabs[:, comps]).T.ravel()).reshape(len(comps), -1).T
            _check_range(s, 2 * _MAX_COORD, "residual")
            if geo_coded:
                pts = pred + uncondition(s, frame[3], frame[4], frame[5])  # |pts| < 2^54 whatever the stream: checked once after the loop
                q[pos] = pts
            else:
                pts = q[pos]
            if int_coded:
                ints = ipred + s[:, -1]
                iv[pos] = ints
            else:
                ints = np.zeros(len(active), np.int64)
            P[active] = np.concatenate([pts[:, None].astype(np.float64), Pa[:, :-1]], axis=1)
            I[active] = np.concatenate([ints[:, None].astype(np.float64), Ia[:, :-1]], axis=1)
        dec.finish()
        _check_range(q, _MAX_COORD, "point")
        _check_range(iv, _MAX_COORD, "intensity")
        divisor, idiv, istep = h["divisor"], h["idiv"], h["istep"]
        xyz = q / float(divisor) if divisor else q * step
        _check_finite(xyz, "coordinates")
        intensity = None
        if h["has_i"]:
            intensity = iv / float(idiv) if idiv else iv * istep
            _check_finite(intensity, "intensities")
        ring = ordering.ring_ids(h["mode"], ring_lengths)
        return {"x_hat": {"xyz": xyz, "intensity": intensity, "ring": ring, "q": q, "i": iv, "step": step,
                          "grid": step, "mode": h["mode"], "idiv": idiv, "istep": istep, "raw": raw}}

    @staticmethod
    def describe_payload(payload: bytes) -> dict:
        """What ``ncodec info`` shows of a LiDAR payload (checked)."""
        return describe_payload(payload)

    def _check_symbols(self, count: int, data: bytes, what: str) -> None:
        """A section of ``len(data)`` bytes cannot hold more than ``8 len / min_symbol_bits``
        range-coded symbols (plus the coder's final words): refuse a header that claims more
        before decoding, so a small file never makes a large decode. Margin 1.25x: a million
        symbols of the most peaked table take 0.0929 bits each, the bound says 0.0927."""
        capacity = 1.25 * (8 * len(data) + 64) / self.min_symbol_bits()
        if count > capacity:
            raise FormatError(f"{what} section ({len(data)} bytes) is too small for the {count} symbols the header implies")


def _check_range(values: np.ndarray, bound: int, what: str) -> None:
    if values.size and np.abs(values).max() >= bound:
        raise FormatError(f"decoded {what} values are out of range (corrupted stream)")


def _check_finite(values: np.ndarray, what: str) -> None:
    """Decoded values must be finite and representable in float32 (every output format)."""
    if values.size and not np.abs(values).max() <= _FLOAT32_MAX:
        raise FormatError(f"decoded {what} are not finite (invalid precision or step in the header)")


def _descend(cost, step: int, limit: int) -> int:
    """Integer minimiser of a unimodal ``cost`` on [-limit, limit]: walk from 0 by ``step`` while
    the cost falls, then by 1."""
    best, best_cost = 0, cost(0)
    for stride in (step, 1):
        for direction in (stride, -stride):
            moved = False
            while abs(best + direction) <= limit:
                c = cost(best + direction)
                if c >= best_cost:
                    break
                best, best_cost, moved = best + direction, c, True
            if moved:
                break
    return best


def _decoder_order(coded: np.ndarray, block_of: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
                   *columns: np.ndarray) -> list[np.ndarray]:
    """Flatten (points, 4) arrays in the order the decoder asks for them: step t, then component,
    then block (the active blocks of step t in increasing order). One scatter per array."""
    nb, c = len(starts), columns[0].shape[1]
    if c == 0 or nb == 0:
        return [np.zeros(0, np.int64) for _ in columns]
    b = block_of[coded]
    t = coded - starts[b]
    valid = np.zeros((int(lengths.max()) + 1, 1, nb), bool)
    valid[t, 0, b] = True
    mask = np.repeat(valid, c, axis=1)  # (steps, component, block)
    index = np.int32 if c * len(coded) < 2**31 else np.int64  # (memory: 4 bytes per entry)
    grid = np.empty(mask.shape, index)
    grid[t, :, b] = np.arange(c * len(coded), dtype=index).reshape(-1, c)  # where each (point, component) lies
    perm = grid[mask]
    del grid, mask, valid
    return [a.reshape(-1)[perm] for a in columns]


# ---------------------------------------------------------------------------------------------
# raw coding: fixed-width binary, the cost a component can never exceed

def modelled_components(raw: int, has_intensity: int, version: int) -> list[int]:
    """Columns (x, y, z as coded, intensity) that go through the model. Payload version 1 codes all
    four (a cloud without intensity codes zeros); version 2 leaves out raw groups and an absent
    intensity."""
    if version == 1:
        return [0, 1, 2, 3]
    return ([] if raw & RAW_GEOMETRY else [0, 1, 2]) + ([3] if has_intensity and not raw & RAW_INTENSITY else [])


def raw_columns(raw: int) -> list[int]:
    """Columns stored in the raw section, in this order."""
    return ([0, 1, 2] if raw & RAW_GEOMETRY else []) + ([3] if raw & RAW_INTENSITY else [])


def _bit_length(v: np.ndarray) -> np.ndarray:
    """Bits of non-negative integers (0 for 0), exact for values below 2^53."""
    v = np.asarray(v, dtype=np.int64)
    return np.where(v > 0, np.floor(np.log2(np.maximum(v, 1))).astype(np.int64) + 1, 0)


def _raw_widths(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo = values.min(axis=0)
    width = np.array([max(1, int(r).bit_length()) for r in (values.max(axis=0) - lo).tolist()], np.int64)
    return lo, width


def raw_bits(values: np.ndarray) -> float:
    """Bits :func:`pack_raw` spends on ``values`` (n, c): at least one bit per value."""
    if values.shape[1] == 0 or len(values) == 0:
        return 0.0
    _, width = _raw_widths(values)
    return float(8 * _RAW_COLUMN.size * values.shape[1] + sum(-(-len(values) * int(w) // 8) * 8 for w in width))


def pack_raw(values: np.ndarray) -> bytes:
    """Columns of integers (n, c) as (minimum, width) headers, then each column's ``value - minimum``
    in ``width`` bits, most significant first."""
    if values.shape[1] == 0 or len(values) == 0:
        return b""
    lo, width = _raw_widths(values)
    parts = [_RAW_COLUMN.pack(int(a), int(w)) for a, w in zip(lo.tolist(), width.tolist())]
    for j, w in enumerate(width.tolist()):
        v = (values[:, j] - lo[j]).astype(np.uint64)
        bits = (v[:, None] >> np.arange(w - 1, -1, -1, dtype=np.uint64)[None, :]) & np.uint64(1)
        parts.append(np.packbits(bits.astype(np.uint8).reshape(-1)).tobytes())
    return b"".join(parts)


def unpack_raw(data: bytes, n: int, columns: int) -> np.ndarray:
    """Inverse of :func:`pack_raw`; the section must have exactly the size its headers imply."""
    if columns == 0:
        if data:
            raise FormatError("raw section should be empty")
        return np.zeros((n, 0), np.int64)
    head = _RAW_COLUMN.size * columns
    if len(data) < head:
        raise FormatError("raw section is truncated")
    cols = [_RAW_COLUMN.unpack_from(data, _RAW_COLUMN.size * j) for j in range(columns)]
    if any(not (1 <= w <= _MAX_RAW_WIDTH and abs(lo) < _MAX_COORD) for lo, w in cols):
        raise FormatError("raw section header is invalid")
    sizes = [-(-n * w // 8) for _, w in cols]
    if len(data) != head + sum(sizes):
        raise FormatError("raw section size does not match the point count")
    out = np.empty((n, columns), np.int64)
    pos = head
    for j, ((lo, w), size) in enumerate(zip(cols, sizes)):
        bits = np.unpackbits(np.frombuffer(data, np.uint8, size, pos))[: n * w].reshape(n, w)
        pos += size
        v = np.zeros(n, np.int64)
        for k in range(w):
            v <<= 1
            v |= bits[:, k]
        out[:, j] = v + lo
    return out


