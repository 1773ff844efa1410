"""The point-cloud modality: LiDAR sweeps and point sets (KITTI/nuScenes .bin, PLY, PCD, LAS/LAZ)
<-> ncodec containers, the ``--precision`` option and the report. What is lossless and what is
lossy is stated in :mod:`ncodec.codecs.pointcloud.files`."""
from __future__ import annotations

from pathlib import Path

from ncodec.codecs.modality import Encoded, Modality, Option
from ncodec.codecs.registry import register_modality
from ncodec.media import pointcloud as cloud_io


class PointCloudModality(Modality):
    """Point clouds: geometry (and LiDAR intensity / ring) coded at a precision in metres."""

    name, code, noun = "pointcloud", 3, "a point cloud"
    suffixes = cloud_io.SUFFIXES
    default_codec = "lidar"
    rate_key, count_key, rate_parameter = "bits_per_point", "points", "precision"
    options = (
        Option(("--precision",), {"type": float, "help": "point clouds: quantisation step in metres "
                                  "(max error step/2; default: the input's own)"}),
    )

    @staticmethod
    def _files():
        from ncodec.codecs.pointcloud import files  # the codecs import numpy-heavy modules: on first use

        return files

    def check_options(self, stage: str, options: dict) -> dict:
        given = super().check_options(stage, options)
        if stage == "encode":
            self._files().check_precision(given.get("precision"))
        return given

    def read(self, path: Path, **options) -> cloud_io.Cloud:
        return cloud_io.read_cloud(path)

    def encode(self, codec, sample: cloud_io.Cloud, device: str, precision: float | None = None) -> Encoded:
        files = self._files()
        container, recon = files.encode_cloud(codec, sample, precision)
        d = files.describe(container)
        fields = {"points": len(sample), "points_out": len(recon["xyz"]), "precision": d["precision"],
                  "max_error_bound": d["max_error"], "intensity": d["intensity"], "order": d["order"],
                  "max_error": recon["max_error"]}
        return Encoded(container, recon, fields)

    def describe(self, container) -> dict:
        return self._files().describe(container)

    def decode(self, codec, container, device: str, **options):
        out = self._files().decode_container(codec, container)
        cloud = cloud_io.Cloud(out["xyz"], out.get("intensity"), out.get("ring"),
                               grid=out.get("step") or out.get("voxel"))
        return cloud, out

    def write(self, tmp: Path, sample: cloud_io.Cloud, target: Path, **options) -> None:
        cloud_io.write_cloud(tmp, sample, target=target)

    def summary(self, r: dict) -> str:
        return (f"{r['output']}: {r['bytes']} bytes, {r['bits_per_point']:.3f} bits/point "
                f"({r['codec']}, {r['points']} points in, {r['points_out']} out, precision {r['precision']:g} m, "
                f"max error {r['max_error']:.3g} m (bound {r['max_error_bound']:g}), intensity {r['intensity']}, "
                f"{r['seconds']:.3f} s)")


register_modality(PointCloudModality)
