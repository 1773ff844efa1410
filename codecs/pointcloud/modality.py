"""The point-cloud modality: LiDAR sweeps and point sets (KITTI/nuScenes .bin, PLY, PCD, LAS/LAZ)
<-> ncodec containers, the ``--precision`` option and the report.

Every point-cloud codec follows the codec contract (:mod:`ncodec.codecs.modality`) with
``rate_parameter = "precision"``: ``compress(cloud, precision=step) -> {"strings", "payload",
"x_hat"}`` and ``decompress(strings, payload, precision=...) -> {"x_hat"}``, ``x_hat`` a dict with
``xyz`` (and ``intensity``, ``ring``, ``grid``; the encoder's also ``perm`` and ``max_error``), and
a static ``describe_payload(payload)`` for ``ncodec info``. The container's payload is the codec's
own description (``lidar``: payload version 1, or 2 with the raw-components byte; ``octree``); the
quality field holds the precision (f32, informative: the exact step is in the payload as f64).

What is lossless and what is lossy:
* ``lidar``: coordinates quantised to ``--precision`` (max error precision/2 per coordinate; none
  when the input already lies on that grid, e.g. KITTI at 1 mm). Without ``--precision`` the
  input's own grid is used (LAS scale, or the coarsest decimal grid 10^-k, k <= 6, on which every
  float32 coordinate lies exactly), else 1 mm. Intensity lossless on a decimal grid, else
  quantised to a step of max|intensity| / 65535. Points come back in coding order (rings,
  azimuth), not in the input's order.
* ``octree``: voxels of ``--precision`` (default 1 mm), one point per occupied voxel (the count
  can shrink), geometry only.
"""
from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np

from ncodec.codecs.modality import Encoded, Modality, Option
from ncodec.codecs.registry import declared, get_codec, register_modality
from ncodec.errors import FormatError, InputError
from ncodec.media import pointcloud as cloud_io

DEFAULT_PRECISION = 0.001
MAX_PRECISION = 1e6  # metres: the coarsest step a file may state (lidar.MAX_STEP, octree.MAX_VOXEL)


def default_precision(cloud: cloud_io.Cloud) -> float:
    """The input's own precision when it can be recovered, else 1 mm."""
    if cloud.grid:
        return float(cloud.grid)
    from ncodec.codecs.pointcloud.lidar import choose_grid

    k = choose_grid(cloud.xyz, float32=True)
    return 10.0**-k if k is not None else DEFAULT_PRECISION


def check_precision(precision: float | None) -> None:
    if precision is not None and not (math.isfinite(precision) and 0 < precision <= MAX_PRECISION):
        raise InputError(f"precision must be a positive number of metres up to {MAX_PRECISION:g}, got {precision}")


def encode_cloud(codec, cloud: cloud_io.Cloud, precision: float | None):
    """The container and the encoder's reconstruction (``x_hat``: xyz, intensity, ring, perm, max_error)."""
    from ncodec.entropy.container import Container

    check_precision(precision)
    step = default_precision(cloud) if precision is None else float(precision)
    out = codec.compress(cloud, precision=step)
    container = Container("pointcloud", codec.codec_name, codec.model_id, float(np.float32(step)), out["payload"],
                          list(out["strings"]))
    return container, out["x_hat"]


def describe(container) -> dict:
    """The codec's description of its payload (checked); imports the codec's module, loads no model."""
    if declared().get(container.codec, ("",))[0] != "pointcloud":
        raise FormatError(f"file uses codec {container.codec!r}, which this ncodec does not have")
    return get_codec(container.codec).factory.describe_payload(container.payload)


def decode_container(codec, container) -> dict:
    """The codec's ``x_hat`` for a container; a stream it cannot decode is a FormatError."""
    try:
        return codec.decompress(container.sections, container.payload, precision=container.quality)["x_hat"]
    except FormatError:
        raise
    except (ValueError, RuntimeError, OverflowError, IndexError, AssertionError, struct.error) as e:
        # constriction asserts on data that is invalid for the model; struct on short fields
        raise FormatError(f"point-cloud stream cannot be decoded ({type(e).__name__})") from None


class PointCloudModality(Modality):
    """Point clouds: geometry (and LiDAR intensity / ring) coded at a precision in metres."""

    name, code, noun = "pointcloud", 3, "a point cloud"
    suffixes = cloud_io.SUFFIXES
    default_codec = "lidar"
    codecs = {"ncodec.codecs.pointcloud.lidar": ("lidar",), "ncodec.codecs.pointcloud.octree": ("octree",)}
    rate_key, count_key, rate_parameter = "bits_per_point", "points", "precision"
    codecs = {"ncodec.codecs.pointcloud.lidar": ("lidar",), "ncodec.codecs.pointcloud.octree": ("octree",)}
    options = (
        Option(("--precision",), {"type": float, "help": "point clouds: quantisation step in metres "
                                  "(max error step/2; default: the input's own)"}),
    )

    def check_options(self, stage: str, options: dict) -> dict:
        given = super().check_options(stage, options)
        if stage == "encode":
            check_precision(given.get("precision"))
        return given

    def read(self, path: Path, **options) -> cloud_io.Cloud:
        return cloud_io.read_cloud(path)

    def encode(self, codec, sample: cloud_io.Cloud, device: str, precision: float | None = None) -> Encoded:
        container, recon = encode_cloud(codec, sample, precision)
        d = describe(container)
        fields = {"points": len(sample), "points_out": len(recon["xyz"]), "precision": d["precision"],
                  "max_error_bound": d["max_error"], "intensity": d["intensity"], "order": d["order"],
                  "max_error": recon["max_error"]}
        return Encoded(container, recon, fields)

    def describe(self, container) -> dict:
        return describe(container)

    def decode(self, codec, container, device: str, **options):
        out = decode_container(codec, container)
        cloud = cloud_io.Cloud(out["xyz"], out.get("intensity"), out.get("ring"), grid=out.get("grid"))
        return cloud, out

    def write(self, tmp: Path, sample: cloud_io.Cloud, target: Path, **options) -> None:
        cloud_io.write_cloud(tmp, sample, target=target)

    def summary(self, r: dict) -> str:
        return (f"{r['output']}: {r['bytes']} bytes, {r['bits_per_point']:.3f} bits/point "
                f"({r['codec']}, {r['points']} points in, {r['points_out']} out, precision {r['precision']:g} m, "
                f"max error {r['max_error']:.3g} m (bound {r['max_error_bound']:g}), intensity {r['intensity']}, "
                f"{r['seconds']:.3f} s)")


register_modality(PointCloudModality)
