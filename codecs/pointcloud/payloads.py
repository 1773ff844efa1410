"""The point-cloud codecs' payloads (the container's codec description): their layouts, the
checks a decoder applies before allocating anything, and what ``ncodec info`` shows. Kept apart
from the codecs (and free of torch) so that reading a header stays fast.
"""
from __future__ import annotations

import struct

import numpy as np

from ncodec.codecs.pointcloud import order as ordering
from ncodec.entropy import limits
from ncodec.errors import FormatError

# ---------------------------------------------------------------------------------------- lidar
LIDAR_PAYLOAD = struct.Struct("<IBHdIiBIdIi4BI8b")
# points, order mode, block length, step, step divisor, log2(1/step) fixed, has intensity,
# intensity divisor, intensity step, intensity norm, log2(norm) fixed, start tables x4, rings,
# calibration shifts (2 classes x 4 components)
# Payload version 2 appends (payload version u8, raw components u8) and a fourth section with the
# components coded raw; a payload of exactly LIDAR_PAYLOAD.size bytes is version 1 (every component
# modelled, three sections) and still decodes.
LIDAR_EXTENSION = struct.Struct("<BB")
PAYLOAD_VERSION = 2
RAW_GEOMETRY, RAW_INTENSITY = 1, 2  # bits of the raw-components byte
N_CLASSES = 2
MAX_SHIFT = 24  # calibration shifts (table steps)
MAX_COORD = 1 << 40  # |quantised coordinate| and |intensity value| stay below this
MAX_STEP = 1e6  # metres: the coarsest precision / voxel size a file may state
MAX_BLOCK_LEN = 4096  # decode steps per block (the loop length) a file may state

# --------------------------------------------------------------------------------------- octree
OCTREE_PAYLOAD = struct.Struct("<IId3qB")  # points in, voxels, voxel size, origin (3 x i64), depth
MAX_DEPTH = 21
MAX_ORIGIN = 2**62
MAX_VOXEL = MAX_STEP


def parse_lidar(payload: bytes) -> dict:
    """Every field of a LiDAR payload (version 1 or 2), checked against the codec's and
    :mod:`ncodec.entropy.limits`' bounds. Nothing is allocated here."""
    version, raw = 1, 0
    if len(payload) != LIDAR_PAYLOAD.size:
        if len(payload) > LIDAR_PAYLOAD.size and payload[LIDAR_PAYLOAD.size] > PAYLOAD_VERSION:
            raise FormatError(f"LiDAR payload version {payload[LIDAR_PAYLOAD.size]} is newer than this ncodec "
                              f"supports ({PAYLOAD_VERSION}); upgrade ncodec")
        if len(payload) != LIDAR_PAYLOAD.size + LIDAR_EXTENSION.size:
            raise FormatError("point-cloud description has the wrong size")
        version, raw = LIDAR_EXTENSION.unpack_from(payload, LIDAR_PAYLOAD.size)
        if version != PAYLOAD_VERSION:
            raise FormatError(f"LiDAR payload version {version} is invalid")
    (n, mode, block_len, step, divisor, o_geo, has_i, idiv, istep, inorm, o_int,
     t0, t1, t2, t3, n_rings, *shifts) = LIDAR_PAYLOAD.unpack_from(payload)
    max_rings = {ordering.MODE_RING: 2 * ordering.MAX_RINGS, ordering.MODE_SCAN: ordering.MAX_RINGS,
                 ordering.MODE_VOXEL: 1}
    problems = [
        (0 < n <= limits.MAX_POINTS, f"{n} points (limit {limits.MAX_POINTS})"),
        (mode in max_rings, f"point order {mode}"),
        (1 <= block_len <= MAX_BLOCK_LEN, f"block length {block_len} (1..{MAX_BLOCK_LEN})"),
        (bool(np.isfinite(step)) and 0 < step <= MAX_STEP, f"precision {step}"),
        (has_i in (0, 1), f"intensity flag {has_i}"),
        (idiv in (0,) + tuple(10**k for k in range(7)), f"intensity divisor {idiv}"),
        (bool(np.isfinite(istep)) and istep >= 0 and (istep > 0 or idiv > 0 or not has_i), f"intensity step {istep}"),
        (1 <= inorm < MAX_COORD, f"intensity norm {inorm}"),
        (mode not in max_rings or 1 <= n_rings <= min(max_rings[mode], limits.MAX_SEGMENTS),
         f"{n_rings} rings/segments for order {mode}"),
        (mode != ordering.MODE_RING or n_rings % 2 == 0, "odd segment count in ring order"),
        (all(abs(v) <= MAX_SHIFT for v in shifts), "calibration shift"),
        (raw & ~(RAW_GEOMETRY | RAW_INTENSITY) == 0 and (has_i or not raw & RAW_INTENSITY), f"raw components {raw}"),
    ]
    bad = [why for ok, why in problems if not ok]
    if bad:
        raise FormatError(f"point-cloud description is invalid ({bad[0]})")
    return {"version": version, "raw": raw, "points": n, "mode": mode, "block_len": block_len, "step": step,
            "divisor": divisor, "o_geo": o_geo, "has_i": has_i, "idiv": idiv, "istep": istep, "inorm": inorm,
            "o_int": o_int, "start_tables": np.array([t0, t1, t2, t3], np.int64), "rings": n_rings,
            "shifts": np.array(shifts, np.int64).reshape(N_CLASSES, 4), "sections": 3 if version == 1 else 4}


def describe_lidar(payload: bytes) -> dict:
    """What ``ncodec info`` shows of a LiDAR payload (checked)."""
    h = parse_lidar(payload)
    order = {0: "ring column + azimuth", 1: "scan order (rings from azimuth wraps)", 2: "voxel (Morton)"}[h["mode"]]
    idiv, istep = h["idiv"], h["istep"]
    inten = "none" if not h["has_i"] else (f"lossless (grid 1/{idiv})" if idiv else f"quantised, step {istep:.6g}")
    if h["raw"] & RAW_INTENSITY:
        inten += ", raw (the model would cost more)"
    rings = h["rings"] // 2 if h["mode"] == ordering.MODE_RING else h["rings"]  # ring mode: far + near segment per ring
    return {"points": h["points"], "precision": h["step"], "max_error": h["step"] / 2, "order": order, "rings": rings,
            "block_len": h["block_len"], "intensity": inten, "payload_version": h["version"],
            "raw_geometry": bool(h["raw"] & RAW_GEOMETRY), "raw_intensity": bool(h["raw"] & RAW_INTENSITY),
            "scale_shifts": h["shifts"].tolist()}


def parse_octree(payload: bytes) -> tuple:
    """(points in, voxels, voxel size, origin x, y, z, depth), checked against the bounds."""
    if len(payload) != OCTREE_PAYLOAD.size:
        raise FormatError("point-cloud description has the wrong size")
    n_in, n_vox, voxel, ox, oy, oz, depth = fields = OCTREE_PAYLOAD.unpack(payload)
    problems = [
        (0 < n_vox <= min(n_in, limits.MAX_POINTS), f"{n_vox} voxels from {n_in} points (limit {limits.MAX_POINTS})"),
        (n_in <= limits.MAX_POINTS, f"{n_in} input points"),
        (bool(np.isfinite(voxel)) and 0 < voxel <= MAX_VOXEL, f"voxel size {voxel}"),
        (max(abs(ox), abs(oy), abs(oz)) < MAX_ORIGIN, "origin"),
        (0 < depth <= MAX_DEPTH, f"depth {depth}"),
    ]
    bad = [why for ok, why in problems if not ok]
    if bad:
        raise FormatError(f"point-cloud description is invalid ({bad[0]})")
    return fields


def describe_octree(payload: bytes) -> dict:
    """What ``ncodec info`` shows of an octree payload (checked)."""
    n_in, n_vox, voxel, *_, depth = parse_octree(payload)
    return {"points": n_vox, "points_in": n_in, "precision": voxel, "max_error": voxel / 2,
            "order": "octree (Morton)", "depth": depth, "intensity": "not coded"}


DESCRIBE = {"lidar": describe_lidar, "octree": describe_octree}  # codec name -> its describer
