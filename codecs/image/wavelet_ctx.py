"""``lwc``: learned wavelet coder, the default image codec. Fixed transform, learned entropy model.

* Transform (nothing learned, :mod:`ncodec.codecs.image.cdf97`): orthonormal colour transform
  (the fixed basis turned to the image's own, the eigenvectors of its RGB gradients, by three
  signalled angles: an encoder choice), CDF 9/7 lifting (up to 5 levels, any size), each subband
  scaled to its synthesis norm so one step size is MSE-balanced everywhere.
* Quantisation: one step ``2 ** (step_log2 - quality * step_slope)`` (``quality`` is continuous in
  ``quality_min .. quality_max``, -2..10 for the shipped model: about 23 to 46 dB, so one model covers
  the whole rate range), dead-zone rounding ``floor(|x| / step + rounding)`` for detail bands, plain
  rounding for the lowpass band; then ``rdo_passes`` greedy RDO sweeps (each under the tables the
  previous values give) choose each detail value among {0, floor, floor + 1}. A sweep changes well
  under 1% of the values, so the network then runs again only where a changed magnitude reaches
  (:meth:`WaveletContextCodec._reusable`), the features gathered there (``BandFeatures``).
* Entropy model (the learned part, :mod:`ncodec.entropy.subband_context`): per coefficient a
  Laplace scale predicted by a small exact fixed-point MLP from integer features of decoded
  neighbours (parent, siblings, other channels, neighbours decoded by earlier polyphase passes).
  Four polyphase passes are strided slices of a band (no boolean masks, features computed at the
  pass's positions only).
* Learned table shapes (``table_shape`` magnitudes, ``table_bands`` bands of the quality range):
  each table's first magnitudes are integer counts fitted on training photos, not Laplace.
* Per-image calibration: the encoder picks, per (level, channel), the whole number of table
  steps by which the network's scales move to minimise the real code length (header bytes).
* Sign contexts (``sign_context``, :mod:`ncodec.entropy.sign_context`): each table is skewed
  towards the sign that decoded neighbours along the band's edge direction (and, for chroma, the
  luma coefficient) predict, from a learned integer table.
* Reconstruction: a nonzero coefficient is rebuilt at ``(|q| - offset) * step`` where the offset
  (learned per table and |q| = 1 / >= 2) approximates the conditional mean inside the bin.
* The lowpass band is coded as row/column differences under one table per channel.
* Optional learned detail predictor (``predictor`` channels, up to ``predictor_max_quality``,
  :mod:`ncodec.codecs.image.detail_predictor`): each level's detail bands are predicted from the
  decoded lowpass above it and the residual is what is quantised and coded (closed loop: the
  encoder works level by level, coarse to fine, from its own decoded coarser levels).
* Optional learned post-filter (``postfilter`` channels, :mod:`ncodec.codecs.image.postfilter`):
  a correction of the decoded pixels, after entropy decoding.

Exact on every machine: everything that selects a table or a coded value is integer (features,
fixed-point MLP in exact float64, calibration shifts, table construction). Only the pixel
reconstruction (after entropy decoding) is float.

Sections: [0] the layout version (one byte, 3) and the colour basis's three angle codes (signed
bytes), [1] the range-coded stream, which starts with the lowpass tables and the calibration shifts
under fixed narrow tables, its word count a varint (``finish(compact=True)``). Version 2 (files
written before 2026-12-07) is version 3 without the angles: the fixed colour basis. Version 1
(files written before 2026-12-06) has no version byte: its section [0] holds the lowpass tables
and the shifts as 3 + 3 * levels bytes and its word count is a u32 (still decoded, and still
written inside video I frames, whose payload embeds it). The byte-trimmed layout of video P frames would save about two bytes more, but its check decodes the
whole stream again (0.1 s on a 40 KB Kodak file).
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import nn

from ncodec import timing
from ncodec.codecs.image import cdf97
from ncodec.codecs.image.detail_predictor import DetailPredictor
from ncodec.codecs.image.postfilter import PostFilter
from ncodec.codecs.registry import register_codec
from ncodec.entropy import sign_context as sc
from ncodec.entropy import subband_context as ctx
from ncodec.entropy.rangecoder import StreamDecoder, StreamEncoder
from ncodec.errors import FormatError
from ncodec.codecs.image.modality import image_shape, shape_payload

SHIFT_RANGE = 12  # calibration shifts in -12..12 table steps
RECON_ONE = 1024  # reconstruction offsets stored in 1/1024 of a step
COST_SPAN = 255  # encoder-side bit costs are tabulated for |v| <= COST_SPAN
LAYOUT_VERSION = 3  # the byte in section [0] (version 1: no byte, the side values there instead)
# The side values at the start of a stream: calibration shifts under the table of scale 1, the
# lowpass tables' indices as differences from LL_TABLE_CENTRE under the table of scale 8.
SHIFT_TABLE = 18
LL_TABLE_TABLE, LL_TABLE_CENTRE = 27, 26
MAG_CLIP = 1 << 20  # context magnitudes are clipped (no overflow from a damaged stream)


def quality_code(quality: float) -> int:
    """The integer the network sees for the quality (exact from the header's f32)."""
    return int(np.floor(float(quality) * 8 + 0.5))


def _classes(levels: int) -> list[tuple[int, int]]:
    return [(level, channel) for level in range(levels) for channel in range(3)]


@register_codec("lwc", "image")
class WaveletContextCodec(nn.Module):
    """CDF 9/7 wavelet + learned fixed-point context model + per-image calibration, any quality."""

    def __init__(self, hidden: int = 16, step_log2: float = 7.5, step_slope: float = 0.5,
                 quality_max: float = 10.0, rounding: float = 0.4, max_levels: int = cdf97.MAX_LEVELS,
                 rdo_lambda: float = 0.0, passes: int = 4, quality_min: float = 0.0, rdo_passes: int = 1,
                 postfilter: int = 0, postfilter_max_quality: float | None = None, sign_context: int = 0,
                 postfilter_coarse: int = 0, postfilter_coarse_layers: int = 5, predictor: int = 0,
                 predictor_layers: int = 4, predictor_max_quality: float | None = None, table_shape: int = 0,
                 table_bands: int = 1, predictor_blocks: int = 0):
        super().__init__()
        self.config = {"hidden": hidden, "step_log2": step_log2, "step_slope": step_slope,
                       "quality_max": quality_max, "rounding": rounding, "max_levels": max_levels,
                       "rdo_lambda": rdo_lambda, "passes": passes, "quality_min": quality_min,
                       "rdo_passes": rdo_passes}
        # (absent from older configs: their models and files are unchanged; above
        # postfilter_max_quality the filter gains nothing and is not run)
        self.postfilter = PostFilter.from_config({"postfilter": postfilter, "postfilter_max_quality": postfilter_max_quality,
                                                  "postfilter_coarse": postfilter_coarse, "postfilter_coarse_layers": postfilter_coarse_layers})
        if self.postfilter is not None:
            self.config.update(self.postfilter.config())
        self.predictor = DetailPredictor(predictor, predictor_layers, predictor_max_quality, predictor_blocks) if predictor else None
        if self.predictor is not None:  # (absent from older configs, as above)
            self.config.update(self.predictor.config())
        if sign_context:  # (absent from older configs, as above)
            if passes != sc.N_PASSES:
                raise ValueError(f"sign contexts need {sc.N_PASSES} polyphase passes, got passes={passes}")
            self.config["sign_context"] = 1
            self.register_buffer("sign_skew", torch.zeros(sc.N_CLASSES, dtype=torch.int64))
        self._sign_context = bool(sign_context)
        if table_shape:  # (absent from older configs, as above: their tables are Laplace)
            if table_shape < 1 or table_bands < 1:
                raise ValueError("table_shape and table_bands must be positive")
            self.config.update({"table_shape": int(table_shape), "table_bands": int(table_bands)})
            self.register_buffer("table_shapes", torch.from_numpy(np.stack(
                [ctx.laplace_shapes(ctx.thetas(), table_shape)] * table_bands)))
        f = ctx.N_FEATURES
        shapes = {"w1": (f, hidden), "b1": (hidden,), "w2": (hidden, hidden), "b2": (hidden,),
                  "w3": (hidden, 1), "b3": (1,)}
        for name, shape in shapes.items():
            self.register_buffer(name, torch.zeros(shape, dtype=torch.int64))
        with torch.no_grad():  # untrained default: scale 1 everywhere
            self.b3.fill_(0)
        self.register_buffer("theta", torch.from_numpy(ctx.thetas()))
        self.register_buffer("recon", torch.zeros((ctx.N_TABLES, 2), dtype=torch.int64))
        self._mlp = None
        self._last = None

    @property
    def quality_range(self) -> tuple[float, float]:
        return float(self.config["quality_min"]), float(self.config["quality_max"])

    def step(self, quality: float) -> float:
        return float(2.0 ** (self.config["step_log2"] - float(quality) * self.config["step_slope"]))

    def steps(self, quality: float) -> np.ndarray:
        """(3, 1, 1) step of each colour channel (Y, C1, C2): all equal (tried: coarser chroma,
        1.2 times Y's step, lost 0.2% BD-rate on held-out photos)."""
        return np.full((3, 1, 1), self.step(quality))

    # ------------------------------------------------------------------ model pieces
    def _load(self, quality: float | None = None):
        """(exact MLP, coding tables, reconstruction offsets). With learned table shapes the
        tables depend on the quality's band: ``quality`` selects them (and the encoder's bit
        costs, :meth:`_cost`) until another quality is given; None keeps the current ones."""
        if self._mlp is None or self._mlp[0] is not self.w1:
            arrays = [getattr(self, k).numpy() for k in ("w1", "b1", "w2", "b2", "w3", "b3")]
            if self._sign_context:
                self._slots = sc.slot_of(self.sign_skew.numpy())
            self._mlp = (self.w1, ctx.ExactMLP(*arrays), self.recon.numpy().astype(np.float64) / RECON_ONE)
            self._band_tables, self._band = {}, None
        band = self._band if quality is None and self._band is not None else self.table_band(0.0 if quality is None else quality)
        if band not in self._band_tables:
            shapes = getattr(self, "table_shapes", None)
            tset = ctx.tables(self.theta.numpy(), None if shapes is None else shapes[band].numpy())
            if self._sign_context:
                tset = sc.skewed_tables(tset)
            self._band_tables[band] = (tset, ctx.bit_costs(tset, COST_SPAN))
        self._band = band
        tset, self._bits = self._band_tables[band]
        return self._mlp[1], tset, self._mlp[2]

    def table_band(self, quality: float) -> int:
        """Which learned table shapes code ``quality``: equal bands of the quality range, by the
        header's integer quality code (0 without learned shapes)."""
        bands = int(self.config.get("table_bands", 1))  # (set with table_shape only)
        lo, hi = (quality_code(q) for q in self.quality_range)
        return int(np.clip((quality_code(quality) - lo) * bands // max(hi - lo + 1, 1), 0, bands - 1))

    def _table(self, base: np.ndarray, shift: int, classes: np.ndarray | None) -> np.ndarray:
        """The coding table of each value: its calibrated scale, skewed by its sign class."""
        t = self._shifted(base, shift)
        return t if classes is None else t + ctx.N_TABLES * self._slots[classes]

    def _cost(self, values: np.ndarray, tables: np.ndarray) -> np.ndarray:
        """Model bits of each value (|v| > COST_SPAN counted as COST_SPAN: an estimate)."""
        return self._bits[tables, np.clip(values, -COST_SPAN, COST_SPAN) + COST_SPAN]

    def _code_details(self, mags, quality: float, coder, only_level: int | None = None, reuse=None) -> list:
        """Walk the bands in decoding order; ``coder(level, channel, orient, pass, mask, tables,
        classes)`` returns the coded values of that pass (encoder: looks them up; decoder: decodes
        them). Fills ``mags`` as it goes; returns the per-pass records (band, mask, values, base
        tables, sign classes or None). ``reuse`` (encoder, :meth:`_reusable`): per band its earlier
        records' base tables, still right except where its stale map is true, where the network
        runs again."""
        mlp, _, _ = self._load(quality)
        code = quality_code(quality)
        records = []
        signs = [[np.zeros(b.shape, dtype=np.int8) for b in bands] for bands in mags] if self._sign_context else None
        for level, channel, orient in ctx.band_order(len(mags)):
            band = mags[level][orient][channel]
            if band.size == 0 or (only_level is not None and level != only_level):
                continue
            passes = self.config["passes"]
            earlier = None if reuse is None else reuse.get((level, channel, orient))
            # Where the network runs again at few positions, their features are gathered there.
            gather = earlier is not None and 8 * np.count_nonzero(earlier[1]) <= earlier[1].size
            static = ctx.BandFeatures(mags, level, channel, orient) if gather else ctx.band_statics(mags, level, channel, orient)
            coded = 0  # the band's nonempty passes so far (its records)
            for pass_, mask in enumerate(ctx.pass_index(band.shape, passes)):
                if gather:
                    if not ctx.pass_size(band.shape, mask):
                        continue
                else:
                    x = ctx.pass_features(static, band, mask, pass_, passes)
                    if len(x) == 0:
                        continue
                bias = mlp.band_bias(ctx.band_features(code, level, channel, orient, pass_))
                if earlier is None:
                    base = np.clip(ctx.scale_index(mlp(x, bias)), 0, ctx.N_TABLES - 1).astype(np.int16)  # (memory)
                else:
                    base, redo = earlier[0][coded].copy(), np.flatnonzero(ctx.take(earlier[1], mask))
                    if len(redo):
                        xr = static(*ctx.pass_positions(band.shape, mask, redo), pass_, passes) if gather else x[redo]
                        base[redo] = np.clip(ctx.scale_index(mlp(xr, bias)), 0, ctx.N_TABLES - 1)
                coded += 1
                classes = None
                if signs is not None:
                    own = signs[level][orient]
                    classes = sc.classes(own[channel], own[0] if channel else None, mask, orient, pass_)
                values = coder(level, channel, orient, pass_, mask, base, classes)
                ctx.put(band, mask, np.clip(np.abs(values), 0, MAG_CLIP))
                if signs is not None:
                    ctx.put(signs[level][orient][channel], mask, np.sign(values).astype(np.int8))
                records.append(((level, channel, orient), mask, values, base, classes))
        return records

    # ------------------------------------------------------------------ quantisation
    def _dequantise(self, values: np.ndarray, tables: np.ndarray, step: float) -> np.ndarray:
        _, _, recon = self._load()
        mag = np.abs(values)
        offset = recon[tables, np.minimum(mag, 2) - 1]
        return np.where(mag > 0, np.sign(values) * (mag - offset), 0.0) * step

    @staticmethod
    def _empty_details(shapes, dtype=np.int64) -> list[list[np.ndarray]]:
        """Zero bands of ``shapes``; context magnitudes (clipped to MAG_CLIP) fit int32."""
        return [[np.zeros(s, dtype=dtype) for s in level] for level in shapes]

    def quantise(self, coeffs, quality: float):
        ll, details = coeffs
        step, r = self.steps(quality), self.config["rounding"]
        q_ll = np.round(ll / step).astype(np.int64)
        q = [[(np.sign(b) * np.floor(np.abs(b) / step + r)).astype(np.int64) for b in bands] for bands in details]
        return q_ll, q

    # ------------------------------------------------------------------ lowpass band
    @staticmethod
    def _ll_residual(q_ll: np.ndarray) -> np.ndarray:
        r = q_ll.copy()
        r[:, :, 1:] = q_ll[:, :, 1:] - q_ll[:, :, :-1]
        r[:, 1:, 0] = q_ll[:, 1:, 0] - q_ll[:, :-1, 0]
        return r

    @staticmethod
    def _ll_from_residual(r: np.ndarray) -> np.ndarray:
        r = r.copy()
        r[:, :, 0] = np.cumsum(r[:, :, 0], axis=1)
        return np.cumsum(r, axis=2)

    # ------------------------------------------------------------------ contract
    stride = 1  # any size is coded as is

    @torch.no_grad()
    def forward(self, x: torch.Tensor, quality: float) -> dict:
        """Estimation pass (``ncodec eval`` compares it with the file): the reconstruction and the
        model's probability of every coded symbol under its final (calibrated) table."""
        rgb = x[0].permute(1, 2, 0).double().cpu().numpy() * 255.0
        colour = cdf97.own_colour(rgb)
        levels, q_ll, q, records, shifts = self.analyse(rgb, float(quality), colour=colour)
        _, tset, _ = self._load(quality)
        ll_res = self._ll_residual(q_ll)
        bits = [self._cost(ll_res[c].reshape(-1), np.full(ll_res[c].size, self._best_table(ll_res[c].reshape(-1), tset)))
                for c in range(3)]
        bits += [self._cost(v, self._table(t, shifts[(l, c)], k)) for (l, c, _), _, v, t, k in records]
        x_hat = self._reconstruct(q_ll, records, shifts, [[b.shape for b in bands] for bands in q], float(quality),
                                  rgb.shape[:2], colour)
        return {"x_hat": x_hat, "likelihoods": {"y": torch.from_numpy(np.exp2(-np.concatenate(bits)))[None]}}

    def analyse(self, rgb: np.ndarray, quality: float, rdo_scale=None, colour=None):
        """Encoder side up to entropy coding: (levels, q_ll, q, records, shifts) of (H, W, 3) pixels.
        The last result is kept: an estimation pass right after an encode (``ncodec eval``) reuses it.
        ``rdo_scale(factor, (bh, bw))``: multipliers of the RDO lambda per coefficient of a band
        ``factor`` times smaller than the image (an encoder choice, e.g. the video lookahead's).
        ``colour``: the angle codes of the colour basis (:func:`cdf97.colour_basis`); by default the
        image's own, as the encoder codes it."""
        if colour is None:
            colour = cdf97.own_colour(rgb)
        if rdo_scale is not None:
            self._last = None
            return self._analyse(rgb, quality, rdo_scale, colour)
        key = (hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).digest(), float(quality), id(self._load()[0]),
               tuple(colour))
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        self._last = (key, self._analyse(rgb, quality, colour=colour))
        return self._last[1]

    def _analyse(self, rgb: np.ndarray, quality: float, rdo_scale=None, colour=cdf97.NO_TURN):
        _, tset, _ = self._load(quality)
        levels = cdf97.levels_for(rgb.shape[0], rgb.shape[1], self.config["max_levels"])
        with timing.stage("transform"):
            coeffs = cdf97.forward(rgb, levels, cdf97.colour_basis(colour))
        if self._predicting(quality):
            return self._analyse_predicted(coeffs, levels, quality, rdo_scale, colour)
        q_ll, q = self.quantise(coeffs, quality)
        shapes = [[b.shape for b in bands] for bands in q]

        # Base tables of every coefficient (they depend only on decoded values), then
        # rate-distortion optimised requantisation under those tables, then the final tables.
        with timing.stage("context"):
            records = self._code_details([[np.abs(b) for b in bands] for bands in q], quality,
                                         lambda l, c, o, p, mask, t, k: ctx.take(q[l][o][c], mask))
        shifts = self._calibrate(records, levels, tset)
        for _ in range(int(self.config["rdo_passes"]) if self.config["rdo_lambda"] > 0 else 0):
            new = self._rdo_requantise(coeffs[1], records, shifts, shapes, quality, rdo_scale)
            reuse = self._reusable(records, q, new)
            q = new
            with timing.stage("context"):
                records = self._code_details([[np.abs(b) for b in bands] for bands in q], quality,
                                             lambda l, c, o, p, mask, t, k: ctx.take(q[l][o][c], mask), reuse=reuse)
            shifts = self._calibrate(records, levels, tset)
        return levels, q_ll, q, records, shifts

    def _analyse_predicted(self, coeffs, levels: int, quality: float, rdo_scale=None, colour=cdf97.NO_TURN):
        """:meth:`_analyse` with the detail predictor: level by level, coarse to fine, each
        level's residual from the prediction its decoded coarser levels give (what the decoder
        will predict), quantised, RDO-requantised and calibrated as the whole image is without it."""
        _, tset, _ = self._load(quality)
        ll, details = coeffs
        step, r = self.steps(quality), self.config["rounding"]
        q_ll = np.round(ll / step).astype(np.int64)
        shapes = [[b.shape for b in bands] for bands in details]
        mags = self._empty_details(shapes, np.int32)
        q = self._empty_details(shapes)
        records, shifts = [], {}
        sweeps = int(self.config["rdo_passes"]) if self.config["rdo_lambda"] > 0 else 0
        synth = self._synthesiser(q_ll, shapes, quality, colour)
        for level in reversed(range(levels)):
            pred = synth.predict(level)
            target = [d - p for d, p in zip(details[level], pred)]
            q[level] = [(np.sign(t) * np.floor(np.abs(t) / step + r)).astype(np.int64) for t in target]
            recs, level_shifts = self._contexts(q, mags, level, levels, quality, tset)
            for _ in range(sweeps):
                new = self._rdo_requantise([target], recs, level_shifts, [shapes[level]], quality, rdo_scale,
                                           level_offset=level)[0]
                reuse = self._reusable(recs, {level: q[level]}, {level: new})
                q[level] = new
                recs, level_shifts = self._contexts(q, mags, level, levels, quality, tset, reuse)
            records += recs
            shifts.update(level_shifts)
            synth.add(level, recs, level_shifts)
        self._synthesised = (records, tuple(colour), synth.rgb())  # the reconstruction, made on the way (see _reconstruct)
        return levels, q_ll, q, records, shifts

    def _contexts(self, q, mags, level: int, levels: int, quality: float, tset, reuse=None):
        """One level's records (its values ``q[level]`` under their contexts, ``mags`` updated)
        and its calibration shifts (``reuse``: see :meth:`_code_details`)."""
        for orient in range(3):
            mags[level][orient][...] = np.abs(q[level][orient])
        with timing.stage("context"):
            recs = self._code_details(mags, quality, lambda l, c, o, p, mask, t, k: ctx.take(q[l][o][c], mask),
                                      only_level=level, reuse=reuse)
        return recs, {k: v for k, v in self._calibrate(recs, levels, tset).items() if k[0] == level}

    @staticmethod
    def _reusable(records, old, new) -> dict:
        """What of ``records`` (coded from the values ``old``) still holds for the values ``new``
        (both indexable [level][orient] -> (3, h, w)): per band (level, channel, orient) its
        records' base tables and a stale map of the positions whose network input may differ. A
        coefficient's features read magnitudes within one row and column of it in its own band,
        its channel's earlier orientations and its orientation's earlier channels, and around its
        parent (:func:`ctx.band_statics`, :func:`ctx.pass_features`), so only positions within
        reach of a changed value (:func:`ctx.reach`) run again: after an RDO sweep, which changes
        well under 1% of the values, most of the network's work is not repeated. The tables are
        the same. (:func:`ncodec.codecs.video.residual.reusable` is the video residual's.)"""
        bands = dict.fromkeys(key for key, *_ in records)  # (level, channel, orient), in order
        changed = {(l, c, o): old[l][o][c] != new[l][o][c] for l, c, o in bands}
        reuse: dict = {}
        for (level, channel, orient), _, _, base, _ in records:
            key = (level, channel, orient)
            if key not in reuse:
                reads = [(level, channel, o) for o in range(orient + 1)] + [(level, c, orient) for c in range(channel)]
                reuse[key] = ([], ctx.reach(changed[key].shape, [changed[k] for k in reads if k in changed],
                                            changed.get((level + 1, channel, orient))))  # (whole-image RDO changes parents)
            reuse[key][0].append(base)
        return reuse

    @torch.no_grad()
    def compress(self, x: torch.Tensor, quality: float, reconstruct: bool = True, header_section: bool = False,
                 rdo_scale=None) -> dict:
        """``header_section``: the older layout (side values as bytes in section [0], word-granular
        stream), which video payloads up to version 3 embed in their I frames. ``rdo_scale``: see
        :meth:`analyse` (encoder only: the file decodes as any other)."""
        if x.shape[0] != 1:
            raise ValueError("lwc codes one image at a time")
        _, tset, _ = self._load(quality)
        h, w = x.shape[-2:]
        rgb = x[0].permute(1, 2, 0).double().cpu().numpy() * 255.0
        colour = cdf97.NO_TURN if header_section else cdf97.own_colour(rgb)  # (the older layout has no room)
        levels, q_ll, q, records, shifts = self.analyse(rgb, quality, rdo_scale, colour)
        shapes = [[b.shape for b in bands] for bands in q]
        ll_res = self._ll_residual(q_ll)
        ll_tables = [self._best_table(ll_res[c].reshape(-1), tset) for c in range(3)]
        side = [shifts[k] for k in _classes(levels)]
        with timing.stage("entropy"):
            enc = StreamEncoder(tset)
            if not header_section:
                enc.push(np.array(ll_tables) - LL_TABLE_CENTRE, np.full(3, LL_TABLE_TABLE))
                enc.push(np.array(side), np.full(len(side), SHIFT_TABLE))
            for c in range(3):
                enc.push(ll_res[c].reshape(-1), np.full(ll_res[c].size, ll_tables[c]))
            for (level, channel, orient), mask, values, base, classes in records:
                enc.push(values, self._table(base, shifts[(level, channel)], classes))
            stream = enc.finish(compact=not header_section)
        header = (bytes(ll_tables) + bytes((s + 128) & 0xFF for s in side) if header_section
                  else bytes([LAYOUT_VERSION]) + np.array(colour, dtype=np.int8).tobytes())
        out = {"strings": [header, stream], "shape": (h, w), "payload": shape_payload(h, w), "y_hat": self._symbols(q_ll, records)}
        out["x_hat"] = self._reconstruct(q_ll, records, shifts, shapes, quality, (h, w), colour) if reconstruct else None
        return out

    @torch.no_grad()
    def decompress(self, strings: list[bytes], payload: bytes, quality: float, batch: int = 1) -> dict:
        _, tset, _ = self._load(quality)
        h, w = image_shape(payload)
        levels = cdf97.levels_for(h, w, self.config["max_levels"])
        header, stream = strings
        classes = _classes(levels)
        colour = cdf97.NO_TURN
        if len(header) == 3 + len(classes):  # layout version 1
            ll_tables, side = list(header[:3]), [b - 128 for b in header[3:]]
            dec = StreamDecoder(stream, tset)
        elif len(header) not in (1, 4):
            raise FormatError("lwc header has the wrong size")
        elif header[0] > LAYOUT_VERSION:
            raise FormatError(f"lwc payload version {header[0]} is newer than this ncodec supports ({LAYOUT_VERSION}); "
                              "upgrade ncodec")
        elif header[0] not in (2, 3) or len(header) != (4 if header[0] == 3 else 1):
            raise FormatError(f"lwc payload version {header[0]} is invalid")
        else:
            if header[0] == 3:
                colour = tuple(int(v) for v in np.frombuffer(header[1:4], dtype=np.int8))
            dec = StreamDecoder(stream, tset, compact=True)
            ll_tables = (dec.pull(np.full(3, LL_TABLE_TABLE)) + LL_TABLE_CENTRE).tolist()
            side = dec.pull(np.full(len(classes), SHIFT_TABLE)).tolist()
            if max((abs(s) for s in side), default=0) > SHIFT_RANGE:
                raise FormatError("lwc stream is corrupted (calibration out of range)")
        if min(ll_tables) < 0 or max(ll_tables) >= ctx.N_TABLES:
            raise FormatError("lwc header names an unknown table")
        shifts = dict(zip(classes, side))
        ll_shape, shapes = self._shapes(h, w, levels)
        with timing.stage("entropy"):
            ll_res = np.stack([dec.pull(np.full(ll_shape, ll_tables[c])) for c in range(3)])
        mags = self._empty_details(shapes, np.int32)

        def coder(level, channel, orient, pass_, mask, base, classes):
            tables = self._table(base, shifts[(level, channel)], classes)
            with timing.stage("entropy"):  # (the report's split: range decoding vs the rest)
                return dec.pull(tables)

        records = self._code_details(mags, quality, coder)
        dec.finish()
        q_ll = self._ll_from_residual(ll_res)
        x_hat = self._reconstruct(q_ll, records, shifts, shapes, quality, (h, w), colour)
        return {"x_hat": x_hat, "y_hat": self._symbols(q_ll, records)}

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _shapes(h: int, w: int, levels: int):
        shapes = []
        for _ in range(levels):
            hl, hh_, wl, wh = (h + 1) // 2, h // 2, (w + 1) // 2, w // 2
            shapes.append([(3, hl, wh), (3, hh_, wl), (3, hh_, wh)])
            h, w = hl, wl
        return (h, w), shapes

    @staticmethod
    def _symbols(q_ll: np.ndarray, records) -> torch.Tensor:
        """Every decoded integer (lowpass, then detail passes in order): the exact part of a
        decode, as float32 (what frozen-bitstream tests hash)."""
        parts = [q_ll.reshape(-1)] + [r[2] for r in records]
        return torch.from_numpy(np.concatenate(parts).astype(np.float32))

    @staticmethod
    def _shifted(base: np.ndarray, shift: int) -> np.ndarray:
        return np.clip(base + shift, 0, ctx.N_TABLES - 1)

    @staticmethod
    def _best_table(values: np.ndarray, tset) -> int:
        costs = [tset.code_length(values, np.full(values.shape, t)) for t in range(ctx.N_TABLES)]  # symmetric ones
        return int(np.argmin(costs))

    def _calibrate(self, records, levels: int, tset) -> dict:
        """Per (level, channel): the shift of the table index with the smallest code length
        (hill-climbing from 0 over whole table steps). The values are counted once per (base
        table, value): M[t, u] = bits of the values of base table t under table u."""
        self._load()
        span = 2 * COST_SPAN + 1
        groups: dict = {}
        for (l, c, _), _, v, t, _ in records:
            groups.setdefault((l, c), []).append(t.astype(np.int64) * span + (np.clip(v, -COST_SPAN, COST_SPAN) + COST_SPAN))
        rows = np.arange(ctx.N_TABLES)
        shifts = {}
        for key in _classes(levels):
            if key not in groups:
                shifts[key] = 0
                continue
            hist = np.bincount(np.concatenate(groups[key]), minlength=ctx.N_TABLES * span).reshape(ctx.N_TABLES, span)
            # Only the values that occur (a few dozen of the 511), through numpy's own loop rather
            # than threaded BLAS (which is 14x slower on a busy 2-core machine); unskewed tables.
            seen = np.flatnonzero(hist.any(axis=0))
            m = ctx.matmul(hist[:, seen].astype(np.float64), self._bits[: ctx.N_TABLES, seen].T)

            def cost(shift: int) -> float:
                return float(m[rows, self._shifted(rows, shift)].sum())

            costs = {0: cost(0)}
            best = 0
            for direction in (1, -1):
                s = best + direction
                while abs(s) <= SHIFT_RANGE:
                    costs[s] = cost(s)
                    if costs[s] >= costs[best]:
                        break
                    best, s = s, s + direction
                if best != 0:
                    break
            shifts[key] = best
        return shifts

    def _rdo_requantise(self, details, records, shifts, shapes, quality: float, rdo_scale=None,
                        level_offset: int = 0) -> list:
        """Per coefficient, the value among {0, floor, floor + 1} of |x| / step minimising
        squared error (in steps^2, with the decoder's reconstruction offsets) + lambda * bits under
        the coefficient's current table (lambda times ``rdo_scale``'s multiplier, when given).
        Contexts are taken as fixed: one greedy sweep. ``level_offset``: ``details`` starts at that
        level (the records are of those levels only)."""
        _, _, recon = self._load(quality)
        step = self.steps(quality)
        lam = self.config["rdo_lambda"] * (step[0] / step) ** 2  # the same pixel-domain lambda
        tables = [[np.zeros(s, dtype=np.int64) for s in level] for level in shapes]
        for (level, channel, orient), mask, _, base, classes in records:
            ctx.put(tables[level - level_offset][orient][channel], mask, self._table(base, shifts[(level, channel)], classes))
        out = []
        for index, bands in enumerate(details):
            level = index + level_offset
            row = []
            for orient, band in enumerate(bands):
                ratio = np.abs(band) / step
                # Below a quarter step 0 always wins: a nonzero value is rebuilt at >= 1/2 step
                # (offsets are within +-1/2), so it has more error, and it never costs fewer bits
                # (the tables are unimodal at 0). Only the other positions are examined.
                idx = np.flatnonzero(ratio >= 0.25)
                r = ratio.reshape(-1)[idx]
                t = tables[index][orient].reshape(-1)[idx]
                lam_band = lam if rdo_scale is None else lam * rdo_scale(2 ** (level + 1), band.shape[1:])[None]
                lam_i = np.broadcast_to(lam_band, band.shape).reshape(-1)[idx]
                a = np.floor(r).astype(np.int64)
                best_k, best_j = np.zeros_like(a), r**2 + lam_i * self._cost(np.zeros_like(a), t)
                for k in (a, a + 1):
                    rec = np.where(k > 0, k - recon[t % ctx.N_TABLES, np.minimum(k, 2) - 1], 0.0)
                    j = (r - rec) ** 2 + lam_i * self._cost(k, t)
                    better = j < best_j
                    best_k, best_j = np.where(better, k, best_k), np.where(better, j, best_j)
                mag = np.zeros(band.size, dtype=np.int64)
                mag[idx] = best_k
                row.append(np.sign(band).astype(np.int64) * mag.reshape(band.shape))
            out.append(row)
        return out

    def _dequantised(self, records, shifts, shapes, quality: float, level_offset: int = 0) -> list:
        """The dequantised detail bands the records describe (``shapes`` from ``level_offset`` on)."""
        step = self.steps(quality)
        details = [[np.zeros(s) for s in level] for level in shapes]
        for (level, channel, orient), mask, values, base, _ in records:
            tables = self._shifted(base, shifts[(level, channel)])
            ctx.put(details[level - level_offset][orient][channel], mask,
                    self._dequantise(values, tables, float(step[channel, 0, 0])))
        return details

    def _predicting(self, quality: float) -> bool:
        """Whether the detail predictor codes this quality (the header's quality decides)."""
        return self.predictor is not None and float(quality) <= self.predictor.max_quality

    def _synthesiser(self, q_ll, shapes, quality: float, colour=cdf97.NO_TURN) -> "_PredictedSynthesis":
        return _PredictedSynthesis(self, q_ll, shapes, quality, colour)

    def _replay(self, q_ll, records, shifts, shapes, quality: float, colour=cdf97.NO_TURN,
                keep: bool = False) -> tuple[list, np.ndarray]:
        """The decoder's coarse-to-fine synthesis with the detail predictor: (per level its scaled
        detail predictions if ``keep``, else Nones (a decode needs none of them), the RGB
        reconstruction)."""
        synth = self._synthesiser(q_ll, shapes, quality, colour)
        predictions = [None] * len(shapes)
        for level in reversed(range(len(shapes))):
            pred = synth.predict(level)
            if keep:
                predictions[level] = pred
            synth.add(level, [r for r in records if r[0][0] == level], shifts)
        return predictions, synth.rgb()

    def coded_targets(self, rgb: np.ndarray, quality: float) -> tuple[list, list]:
        """(the detail values the encoder codes, the continuous values they quantise): the
        wavelet details, less the decoder's predictions when the predictor codes this quality."""
        colour = cdf97.own_colour(rgb)
        levels, q_ll, q, records, shifts = self.analyse(rgb, quality, colour=colour)
        details = cdf97.forward(rgb, levels, cdf97.colour_basis(colour))[1]
        if self._predicting(quality):
            predictions = self._replay(q_ll, records, shifts, [[b.shape for b in bands] for bands in q], quality, colour,
                                       keep=True)[0]
            details = [[d - p for d, p in zip(bands, pred)] for bands, pred in zip(details, predictions)]
        return q, details

    def _reconstruct(self, q_ll, records, shifts, shapes, quality: float, size, colour=cdf97.NO_TURN) -> torch.Tensor:
        made = getattr(self, "_synthesised", None)
        if self._predicting(quality) and made is not None and made[0] is records and made[1] == tuple(colour):
            rgb = made[2]  # the encoder's analysis reconstructed these records already
        elif self._predicting(quality):
            rgb = self._replay(q_ll, records, shifts, shapes, quality, colour)[1]
        else:
            details = self._dequantised(records, shifts, shapes, quality)
            with timing.stage("transform"):
                rgb = cdf97.inverse(q_ll * self.steps(quality), [tuple(b) for b in details], cdf97.colour_basis(colour))
        x_hat = np.clip(rgb / 255.0, 0.0, 1.0).transpose(2, 0, 1)[None]
        x_hat = torch.from_numpy(np.ascontiguousarray(x_hat, dtype=np.float32))
        if self.postfilter is not None:
            with timing.stage("postfilter"):
                x_hat = self.postfilter.correct(x_hat, quality)
        return x_hat


class _PredictedSynthesis:
    """Coarse-to-fine reconstruction with the detail predictor (encoder and decoder alike): holds
    the unscaled lowpass of the decoded coarser levels; :meth:`predict` gives a level's scaled
    detail predictions, :meth:`add` adds its dequantised residuals and synthesises one level."""

    def __init__(self, codec: WaveletContextCodec, q_ll: np.ndarray, shapes, quality: float, colour=cdf97.NO_TURN):
        self.codec, self.quality, self.shapes = codec, quality, shapes
        self.basis = cdf97.colour_basis(colour)
        self.step = codec.steps(quality)
        self.g_ll, self.gains = cdf97.subband_gains(len(shapes))
        self.low = q_ll * self.step / self.g_ll
        self.pred: dict[int, list[np.ndarray]] = {}

    def predict(self, level: int) -> list[np.ndarray]:
        with timing.stage("predictor"):
            pred = self.codec.predictor.predict(self.low, level, float(self.step[0, 0, 0]), self.shapes[level])
        self.pred[level] = [p * g for p, g in zip(pred, self.gains[level])]
        return self.pred[level]

    def add(self, level: int, records, shifts) -> None:
        deq = self.codec._dequantised(records, shifts, [self.shapes[level]], self.quality, level_offset=level)[0]
        bands = [(d + p) / g for d, p, g in zip(deq, self.pred.pop(level), self.gains[level])]
        with timing.stage("transform"):
            self.low = cdf97.synthesis(self.low, [tuple(bands)])

    def rgb(self) -> np.ndarray:
        return cdf97.from_colour(self.low, self.basis)
