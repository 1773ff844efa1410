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

from ncodec.codecs.modality import Encoded, Example, Metric, Modality, Option
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
    """The codec's description of its payload (checked); loads no model. The shipped codecs'
    payloads are read by :mod:`~ncodec.codecs.pointcloud.payloads` (no torch, so ``ncodec info`` is
    quick); another registered point-cloud codec by its own ``describe_payload``."""
    from ncodec.codecs.pointcloud.payloads import DESCRIBE

    if declared().get(container.codec, ("",))[0] != "pointcloud":
        raise FormatError(f"file uses codec {container.codec!r}, which this ncodec does not have")
    if container.codec in DESCRIBE:
        return DESCRIBE[container.codec](container.payload)
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
    options = (
        Option(("--precision",), {"type": float, "help": "point clouds: quantisation step in metres "
                                  "(max error step/2; default: the input's own; eval: one precision for "
                                  "every codec instead of the sweep)"}, stages=("encode", "eval")),
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

    def examples(self, folder: Path) -> list[Example]:
        """A small LiDAR-like sweep (8 rings x 160 azimuths, 1 mm grid, KITTI .bin) for ``lidar``
        and a 1500-point object (PLY) for the other codecs."""
        import numpy as np

        rng = np.random.default_rng(0)
        elev = np.radians(np.linspace(-24, 2, 8))[:, None]
        az = np.linspace(-np.pi, np.pi, 160, endpoint=False)[None, :]
        r = np.minimum(np.where(elev < 0, 1.7 / np.maximum(np.sin(-elev), 1e-3), 80.0),
                       20.0 / np.maximum(np.abs(np.cos(az)), 1e-3)) + rng.normal(0, 0.01, (8, 160))
        xyz = np.stack([r * np.cos(elev) * np.cos(az), r * np.cos(elev) * np.sin(az),
                        np.broadcast_to(r * np.sin(elev), r.shape)], axis=-1).reshape(-1, 3)
        xyz = np.round(xyz * 1000) / 1000
        intensity = np.round(rng.uniform(0, 0.99, len(xyz)) * 100) / 100
        np.column_stack([xyz, intensity]).astype("<f4").tofile(Path(folder) / "sweep.bin")
        u = np.random.default_rng(1234).normal(size=(1500, 3))
        cloud_io.write_cloud(Path(folder) / "object.ply", cloud_io.Cloud(u / np.linalg.norm(u, axis=1, keepdims=True) * 0.05))
        others = tuple(n for names in self.codecs.values() for n in names if n != "lidar")
        return [Example(Path(folder) / "sweep.bin", {"precision": 0.001}, ("lidar",), ".bin"),
                Example(Path(folder) / "object.ply", {"precision": 0.002}, others, ".ply")]

    def summary(self, r: dict) -> str:
        return (f"{r['output']}: {r['bytes']} bytes, {r['bits_per_point']:.3f} bits/point "
                f"({r['codec']}, {r['points']} points in, {r['points_out']} out, precision {r['precision']:g} m, "
                f"max error {r['max_error']:.3g} m (bound {r['max_error_bound']:g}), intensity {r['intensity']}, "
                f"{r['seconds']:.3f} s)")


    # -- evaluation (``ncodec eval``): bits per point, D1/D2 PSNR, errors --------------------------
    eval_unit = "frame"
    eval_recursive = True
    eval_metrics = (
        Metric("d1-psnr", "d1-psnr", "D1 PSNR (dB, peak = bounding-box diagonal)"),
        Metric("d2-psnr", "d2-psnr", "D2 PSNR (dB, peak = bounding-box diagonal)"),
        Metric("max-error", "max-error", "max nearest-neighbour error (m)", curve=False),
        Metric("mean-error", "mean-error", "mean nearest-neighbour error (m)", curve=False),
        Metric("max-coordinate-error", "max-coordinate-error", "max per-coordinate error (m, matched points)",
               curve=False),
        Metric("peak", "peak", "PSNR peak: the original's bounding-box diagonal (m)", curve=False),
    )
    eval_rate_label = "bits per point (whole files)"
    eval_variants = {"xyz": "geometry only (the intensity is dropped before coding)"}
    eval_precisions = (0.0005, 0.001, 0.002, 0.005, 0.01)  # metres: the sweep without --precision

    def eval_variant(self, original: cloud_io.Cloud, variant: str) -> cloud_io.Cloud:
        if variant != "xyz":
            return super().eval_variant(original, variant)
        return cloud_io.Cloud(original.xyz, None, original.ring, original.grid)

    def eval_count(self, original: cloud_io.Cloud) -> int:
        return len(original)

    def eval_hash(self, original: cloud_io.Cloud) -> str:
        import hashlib

        h = hashlib.sha256(f"cloud|{original.xyz.shape}|".encode())
        for part in (original.xyz, original.intensity, original.ring):
            h.update(b"-" if part is None else np.ascontiguousarray(part).tobytes() + b"|")
        return h.hexdigest()[:16]

    def eval_settings(self, card: dict, points: int = 0) -> list[float]:
        return list(self.eval_precisions)

    def eval_measure(self, original: cloud_io.Cloud, decoded: cloud_io.Cloud, x_hat=None) -> dict:
        """Nearest-neighbour errors and D1/D2 PSNR (:mod:`~ncodec.codecs.pointcloud.metrics`); the
        per-coordinate error where points can be matched: by the encoder's order (``x_hat["perm"]``)
        or when a baseline keeps the input order."""
        from ncodec.codecs.pointcloud.metrics import coordinate_error, distortion

        m = distortion(original.xyz, decoded.xyz, with_d2=True)
        out = {"d1-psnr": m["d1_psnr"], "d2-psnr": m["d2_psnr"], "max-error": m["max_error"],
               "mean-error": m["mean_error"], "peak": m["peak"], "max-coordinate-error": None}
        perm = x_hat.get("perm") if isinstance(x_hat, dict) else None
        if perm is not None and len(perm) == len(decoded.xyz):
            out["max-coordinate-error"] = coordinate_error(original.xyz[perm], decoded.xyz)
            if original.intensity is not None and decoded.intensity is not None:
                out["intensity-lossless"] = bool(np.array_equal(decoded.intensity.astype(np.float32),
                                                                original.intensity[perm].astype(np.float32)))
        elif decoded.meta.get("order") == "input" and len(decoded.xyz) == len(original.xyz):
            out["max-coordinate-error"] = coordinate_error(original.xyz, decoded.xyz)
        return out

    def eval_cell(self, record: dict) -> str:
        """Bits per point (in brackets the max per-coordinate error in mm where the points can be
        matched, else the max nearest-neighbour distance, e.g. Draco)."""
        error = record.get("max-coordinate-error")
        error = record["max-error"] if error is None else error
        return f"{record[self.rate_key]:.2f} ({error * 1000:.2f})"

register_modality(PointCloudModality)
