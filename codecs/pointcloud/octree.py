"""Dense point clouds (scanned objects): octree occupancy coding with an adaptive context model.

Coordinates are snapped to voxels of the user's size (``--precision``): ``v = round(xyz / voxel)``,
duplicates merged, so the decoded cloud holds one point per occupied voxel (its centre; error at
most ``voxel / 2`` per coordinate) and the point count can shrink. Geometry only: intensity and
colours are not coded.

The octree is coded level by level in Morton order; each node's 8-bit occupancy (1..255) is
range-coded under a frequency table chosen by its context: the number of occupied face
neighbours at the same level (0..6, known to the decoder before the level is coded) and how many
children the parent has (4 buckets). The tables *adapt*: they are the shipped prior counts (the
learned part, fitted on training clouds, see :func:`prior_from_counts`) plus the counts of everything
already coded, refreshed every ``chunk`` nodes. All counts are integers, so encoder and decoder
build identical tables.
"""
from __future__ import annotations

import struct

import numpy as np
import torch
from torch import nn

from ncodec.codecs.pointcloud import payloads
from ncodec.codecs.pointcloud.grid import morton, unmorton, voxelise
from ncodec.codecs.pointcloud.payloads import MAX_VOXEL, describe_octree as describe_payload, parse_octree as parse_payload
from ncodec.codecs.registry import register_codec
from ncodec.entropy import rangecoder
from ncodec.entropy.rangecoder import TableSet
from ncodec.errors import FormatError, InputError

N_CTX = 7 * 4
_PAYLOAD = payloads.OCTREE_PAYLOAD  # layout and checks: :mod:`ncodec.codecs.pointcloud.payloads`
_MAX_DEPTH, _MAX_ORIGIN = payloads.MAX_DEPTH, payloads.MAX_ORIGIN
_FLOAT32_MAX = float(np.finfo(np.float32).max)


_POP = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)
_POP_BUCKET = np.array([0, 0, 1, 1, 2, 2, 3, 3, 3], dtype=np.int64)


def contexts(nodes: np.ndarray, parent_occupancy: np.ndarray) -> np.ndarray:
    """Context of each node (sorted Morton codes of one level) from its face neighbours."""
    xyz = unmorton(nodes)
    count = np.zeros(len(nodes), np.int64)
    for axis in range(3):
        for delta in (-1, 1):
            nb = xyz.copy()
            nb[:, axis] += delta
            ok = (nb[:, axis] >= 0)
            key = morton(np.maximum(nb, 0))
            pos = np.clip(np.searchsorted(nodes, key), 0, len(nodes) - 1)
            count += (ok & (nodes[pos] == key)).astype(np.int64)
    return count * 4 + _POP_BUCKET[_POP[parent_occupancy]]


def _tables(counts: np.ndarray) -> TableSet:
    """One table per context over symbols 1..255 (offset 1) plus an unused escape."""
    pmf = np.concatenate([counts[:, 1:256], np.ones((len(counts), 1), np.int64)], axis=1)
    cdf = np.concatenate([np.zeros((len(counts), 1), np.int64), np.cumsum(pmf, axis=1)], axis=1)
    return TableSet(cdf, np.full(len(counts), cdf.shape[1]), np.ones(len(counts), np.int64))


def _levels(keys: np.ndarray, depth: int):
    """Per level (root first): node codes, their occupancy bytes."""
    out = []
    for level in range(depth):
        shift = np.uint64(3 * (depth - level - 1))
        children = np.unique(keys >> shift)
        parents, first = np.unique(children >> np.uint64(3), return_index=True)
        bits = np.left_shift(1, (children & np.uint64(7)).astype(np.int64))
        occ = np.bitwise_or.reduceat(bits, first)
        out.append((parents, occ))
    return out


def _coded_levels(keys: np.ndarray, depth: int):
    """Per level (root first), as the encoder codes them: node codes, occupancy bytes, contexts."""
    parent_occ, prev_nodes = None, None
    for level, (nodes, occ) in enumerate(_levels(keys, depth)):
        parent = np.full(len(nodes), 255, np.int64) if level == 0 else \
            parent_occ[np.searchsorted(prev_nodes, nodes >> np.uint64(3))]
        yield nodes, occ, contexts(nodes, parent)
        parent_occ, prev_nodes = occ, nodes


def _voxels(xyz: np.ndarray, voxel: float) -> tuple[np.ndarray, np.ndarray, int]:
    """(voxel indices from 0 (int64), origin (int64), octree depth); InputError when they do not fit."""
    v, origin = voxelise(xyz, voxel)
    if v.max() >= (1 << _MAX_DEPTH) or np.abs(origin).max() >= _MAX_ORIGIN:
        raise InputError(f"voxel size {voxel} is too small for this cloud's extent (max 2^21 voxels per axis)")
    v = v.astype(np.int64)
    return v, origin.astype(np.int64), max(int(v.max()).bit_length(), 1)


@register_codec("octree", "pointcloud", "Octree occupancy coding with an adaptive context model (dense clouds)")
class OctreeCodec(nn.Module):
    def __init__(self, chunk: int = 4096):
        super().__init__()
        self.config = {"chunk": chunk}
        self.register_buffer("prior", torch.ones(N_CTX, 256, dtype=torch.int64))

    rate_parameter = "precision"
    codes_intensity = False  # geometry only

    def _coded_chunks(self, symbols: np.ndarray, ctx: np.ndarray, counts: np.ndarray):
        """Chunks of one level, each under the tables of everything coded before it."""
        step = self.config["chunk"]
        for a in range(0, len(ctx), step):
            yield a, min(a + step, len(ctx))

    def compress(self, x, precision: float) -> dict:
        """``x``: a :class:`~ncodec.media.pointcloud.Cloud` (its geometry is coded); ``precision``:
        the voxel size. ``x_hat``: one point per occupied voxel (``xyz``) and the largest
        per-coordinate distance of an input point to its voxel centre (``max_error``)."""
        voxel = float(precision)
        if not (np.isfinite(voxel) and 0 < voxel <= MAX_VOXEL):
            raise InputError(f"precision must be a positive number of metres up to {MAX_VOXEL:g}, got {voxel}")
        xyz = x.xyz
        v, origin, depth = _voxels(xyz, voxel)
        keys = np.unique(morton(v))
        counts = self.prior.cpu().numpy().astype(np.int64).copy()
        parts = []
        for nodes, occ, ctx in _coded_levels(keys, depth):
            for a, b in self._coded_chunks(occ, ctx, counts):
                parts.append(rangecoder.encode(occ[a:b], ctx[a:b], _tables(counts)))
                np.add.at(counts, (ctx[a:b], occ[a:b]), 1)
        data = b"".join(struct.pack("<I", len(p)) + p for p in parts)
        recon = (unmorton(keys) + origin) * voxel
        snapped = (v + origin) * voxel  # each input point's voxel centre
        payload = _PAYLOAD.pack(len(xyz), len(keys), voxel, *origin.tolist(), depth)
        x_hat = {"xyz": recon, "intensity": None, "ring": None, "perm": None, "grid": voxel,
                 "max_error": float(np.abs(xyz - snapped).max()) if len(xyz) else 0.0}
        return {"strings": [data], "payload": payload, "x_hat": x_hat}

    def decompress(self, strings: list[bytes], payload: bytes, precision: float | None = None) -> dict:
        """``precision`` (the header's f32) is informative: the exact voxel size is in the payload."""
        sections = strings
        if len(sections) != 1:
            raise FormatError("octree file must have one section")
        n_in, n_vox, voxel, ox, oy, oz, depth = parse_payload(payload)
        data, pos = sections[0], 0
        chunk = self.config["chunk"]
        # every chunk of every level costs at least its 4-byte length: the last level has at most
        # 8 * chunk * len / 4 nodes, so a small section cannot claim a large cloud
        if n_vox > 8 * chunk * (len(data) // 4):
            raise FormatError(f"octree section ({len(data)} bytes) is too small for {n_vox} voxels")
        counts = self.prior.cpu().numpy().astype(np.int64).copy()
        nodes = np.array([0], np.uint64)
        parent = np.array([255], np.int64)
        for level in range(depth):
            if len(nodes) > n_vox or 4 * -(-len(nodes) // chunk) > len(data) - pos:
                raise FormatError("octree stream does not match the voxel count")
            ctx = contexts(nodes, parent)
            occ = np.empty(len(nodes), np.int64)
            for a, b in self._coded_chunks(occ, ctx, counts):
                if pos + 4 > len(data):
                    raise FormatError("octree stream is truncated")
                (length,) = struct.unpack_from("<I", data, pos)
                if pos + 4 + length > len(data):
                    raise FormatError("octree stream is truncated")
                occ[a:b] = rangecoder.decode(data[pos + 4 : pos + 4 + length], ctx[a:b], _tables(counts))
                pos += 4 + length
                np.add.at(counts, (ctx[a:b], occ[a:b]), 1)
            if occ.min() < 1 or occ.max() > 255:
                raise FormatError("octree stream is corrupted")
            if int(_POP[occ].sum()) > n_vox:  # before the next level is allocated
                raise FormatError("octree stream does not match the voxel count")
            bits = ((occ[:, None] >> np.arange(8)[None, :]) & 1).astype(bool)
            nodes = ((nodes[:, None] << np.uint64(3)) | np.arange(8, dtype=np.uint64)[None, :])[bits]
            parent = np.repeat(occ, _POP[occ])
        if pos != len(data) or len(nodes) != n_vox:
            raise FormatError("octree stream does not match its description")
        v = unmorton(nodes) + np.array([ox, oy, oz], np.int64)
        xyz = v * voxel
        if not np.abs(xyz).max() <= _FLOAT32_MAX:
            raise FormatError("decoded coordinates are not finite (invalid voxel size or origin in the header)")
        return {"x_hat": {"xyz": xyz, "intensity": None, "ring": None, "q": v, "points_in": n_in, "grid": voxel}}

    @staticmethod
    def describe_payload(payload: bytes) -> dict:
        """What ``ncodec info`` shows of an octree payload (checked)."""
        return describe_payload(payload)


def prior_counts(xyz: np.ndarray, voxel: float) -> np.ndarray:
    """(N_CTX, 256) occupancy-symbol counts per context of one cloud voxelised at ``voxel``."""
    total = np.zeros((N_CTX, 256), np.int64)
    v, _, depth = _voxels(xyz, voxel)
    for _, occ, ctx in _coded_levels(np.unique(morton(v)), depth):
        np.add.at(total, (ctx, occ), 1)
    return total


def prior_from_counts(total: np.ndarray, weight: int = 32) -> torch.Tensor:
    """The learned part: per-context symbol frequencies, scaled so each context's prior weighs
    ``weight`` observations (at least 1 per symbol)."""
    total = np.asarray(total, np.int64)
    scaled = total * weight * 255 // np.maximum(total.sum(axis=1, keepdims=True), 1)
    return torch.from_numpy(np.maximum(scaled, 1))
