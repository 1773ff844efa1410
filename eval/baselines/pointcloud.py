"""Point-cloud baselines, each writing a real file at the same guaranteed max error per coordinate
as ``lidar`` at that precision (precision / 2):

* ``laszip``: LASzip (lazrs via laspy), point format 0, scale = precision, intensity as integers on
  its own grid (a cloud without intensity: zeros, as LAS always stores the field);
* ``draco``: Draco (DracoPy) point cloud, compression level 10, quantisation bits = the fewest whose
  step (bounding-box extent / (2^bits - 1)) is <= precision; geometry only, points reordered;
* ``gzip`` / ``zstd`` / ``lzma``: gzip -9 / zstd -19 / xz of the quantised points as int32 x, y, z
  (+ int16 intensity when the cloud has one);
* ``gpcc``: G-PCC (MPEG TMC13, octree geometry) at position scale 1 / precision, when ``--tmc3`` or
  ``$TMC13`` names a ``tmc3`` binary; geometry only.

``<name>-xyz`` codes the cloud without its intensity (the point-cloud modality's ``xyz`` variant).
A file's name records its setting (``<name>-p<precision>.<ext>``), as the YUV tools record the
frame size.
"""
from __future__ import annotations

import io
import lzma
import os
import tempfile
import zlib
from pathlib import Path

import numpy as np

from ncodec.eval.baselines import register_baseline
from ncodec.eval.baselines.base import Baseline, run_tool, tool_version

PRECISIONS = (0.0005, 0.001, 0.002, 0.005, 0.01)  # metres: the default sweep (--precision: one)


def quantised(cloud, precision: float) -> np.ndarray:
    from ncodec.codecs.pointcloud.grid import quantise

    return quantise(cloud.xyz, precision).astype(np.int64)


def intensity_ints(cloud) -> np.ndarray:
    """Intensities as integers on their own decimal grid (else scaled to 0..65535); zeros without."""
    from ncodec.codecs.pointcloud.lidar import choose_grid

    if cloud.intensity is None:
        return np.zeros(len(cloud), np.int64)
    k = choose_grid(cloud.intensity, float32=True)
    scale = 10**k if k is not None else 65535 / max(float(cloud.intensity.max()), 1e-12)
    return np.round(cloud.intensity * scale).astype(np.int64)


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{package} {version(package)}"
    except PackageNotFoundError:
        return f"{package} unknown"


def _missing(*modules: str) -> list[str]:
    import importlib.util

    return [m for m in modules if importlib.util.find_spec(m) is None]


class PointCloudBaseline(Baseline):
    modality = "pointcloud"
    setting_name, label_prefix = "precision", "p"
    suffix = ""
    packages: tuple[str, ...] = ()  # (import name, pip name)

    def available(self) -> str | None:
        missing = _missing(*(m for m, _ in self.packages))
        pip = " ".join(p for m, p in self.packages if m in missing)
        return f"{', '.join(missing)} not installed: pip install {pip}" if missing else None

    def settings(self) -> list[float]:
        return list(PRECISIONS)

    def encode(self, cloud, setting: float, tmpdir: Path) -> Path:
        path = Path(tmpdir) / f"{self.name}-{self.label(setting)}{self.suffix}"
        path.write_bytes(self.compress(cloud, setting))
        return path

    def decode(self, path: Path):
        setting = float(Path(path).name.rsplit("-", 1)[1][len(self.label_prefix):-len(self.suffix)])
        return self.decompress(Path(path).read_bytes(), setting)

    def compress(self, cloud, precision: float) -> bytes:
        raise NotImplementedError

    def decompress(self, data: bytes, precision: float):
        raise NotImplementedError


def _cloud(xyz: np.ndarray, intensity=None, order: str = "input"):
    from ncodec.media.pointcloud import Cloud

    return Cloud(np.asarray(xyz, np.float64), intensity, meta={"order": order})


@register_baseline
class LASzip(PointCloudBaseline):
    name = "laszip"
    description = "LASzip via lazrs (xyz + intensity, point format 0)"
    suffix = ".laz"
    packages = (("laspy", "laspy"), ("lazrs", "lazrs"))

    def version(self) -> str:
        return f"{_version('laspy')}, {_version('lazrs')}"

    def command(self, setting: float) -> str:
        return (f"laspy.LasData(point_format=0, scales={setting:g}, offsets=0).write(do_compress=True, "
                f"laz_backend=Lazrs)")

    def compress(self, cloud, precision: float) -> bytes:
        import laspy

        q = quantised(cloud, precision)
        header = laspy.LasHeader(point_format=0, version="1.2")
        header.scales, header.offsets = [precision] * 3, [0.0, 0.0, 0.0]
        las = laspy.LasData(header)
        las.X, las.Y, las.Z = q[:, 0], q[:, 1], q[:, 2]
        las.intensity = np.clip(intensity_ints(cloud), 0, 65535).astype(np.uint16)
        buf = io.BytesIO()
        las.write(buf, do_compress=True, laz_backend=laspy.LazBackend.Lazrs)
        return buf.getvalue()

    def decompress(self, data: bytes, precision: float):
        import laspy

        back = laspy.read(io.BytesIO(data))
        return _cloud(np.stack([np.asarray(back.x), np.asarray(back.y), np.asarray(back.z)], axis=1))


def draco_bits(xyz: np.ndarray, precision: float) -> int:
    extent = float((xyz.max(axis=0) - xyz.min(axis=0)).max())
    return int(min(max(np.ceil(np.log2(extent / precision + 1)), 1), 30))


@register_baseline
class Draco(PointCloudBaseline):
    name = "draco"
    description = "Draco (DracoPy) point cloud, level 10, xyz only"
    suffix = ".drc"
    packages = (("DracoPy", "DracoPy"),)

    def version(self) -> str:
        return _version("DracoPy")

    def command(self, setting: float) -> str:
        return (f"DracoPy.encode(xyz float32, quantization_bits=ceil(log2(extent / {setting:g} + 1)), "
                f"compression_level=10)")

    def compress(self, cloud, precision: float) -> bytes:
        import DracoPy

        bits = draco_bits(cloud.xyz, precision)
        return DracoPy.encode(cloud.xyz.astype(np.float32), quantization_bits=bits, compression_level=10)

    def decompress(self, data: bytes, precision: float):
        import DracoPy

        return _cloud(DracoPy.decode(data).points, order="draco")  # Draco reorders the points


class _Generic(PointCloudBaseline):
    """A general-purpose compressor of int32 x, y, z (+ int16 intensity): the file name says which."""

    kind_suffix = ""

    def encode(self, cloud, setting: float, tmpdir: Path) -> Path:
        columns = "xyzi" if cloud.intensity is not None else "xyz"
        path = Path(tmpdir) / f"{self.name}-{self.label(setting)}.{columns}{self.suffix}"
        raw = quantised(cloud, setting).astype("<i4").tobytes()
        if cloud.intensity is not None:
            raw += np.clip(intensity_ints(cloud), -32768, 32767).astype("<i2").tobytes()
        path.write_bytes(self.pack(raw))
        return path

    def decode(self, path: Path):
        name = Path(path).name
        stem, columns = name[: -len(self.suffix)].rsplit(".", 1)
        setting = float(stem.rsplit("-", 1)[1][len(self.label_prefix):])
        raw = self.unpack(Path(path).read_bytes())
        n = len(raw) // (14 if columns == "xyzi" else 12)
        return _cloud(np.frombuffer(raw[: 12 * n], dtype="<i4").reshape(-1, 3) * setting)

    def pack(self, raw: bytes) -> bytes:
        raise NotImplementedError

    def unpack(self, data: bytes) -> bytes:
        raise NotImplementedError


@register_baseline
class Gzip(_Generic):
    name, suffix = "gzip", ".gz"
    description = "gzip -9 of int32 xyz + int16 intensity"

    def version(self) -> str:
        return f"zlib {zlib.ZLIB_RUNTIME_VERSION}"

    def command(self, setting: float) -> str:
        return f"zlib.compress(int32 round(xyz / {setting:g}) + int16 intensity, 9)"

    def pack(self, raw: bytes) -> bytes:
        return zlib.compress(raw, 9)

    def unpack(self, data: bytes) -> bytes:
        return zlib.decompress(data)


@register_baseline
class Zstd(_Generic):
    name, suffix = "zstd", ".zst"
    description = "zstd -19 of int32 xyz + int16 intensity"
    packages = (("zstandard", "zstandard"),)

    def version(self) -> str:
        return _version("zstandard")

    def command(self, setting: float) -> str:
        return f"zstandard.ZstdCompressor(level=19).compress(int32 round(xyz / {setting:g}) + int16 intensity)"

    def pack(self, raw: bytes) -> bytes:
        import zstandard

        return zstandard.ZstdCompressor(level=19).compress(raw)

    def unpack(self, data: bytes) -> bytes:
        import zstandard

        return zstandard.ZstdDecompressor().decompress(data)


@register_baseline
class Lzma(_Generic):
    name, suffix = "lzma", ".xz"
    description = "lzma (xz) of int32 xyz + int16 intensity"

    def version(self) -> str:
        return "python lzma (liblzma)"

    def command(self, setting: float) -> str:
        return f"lzma.compress(int32 round(xyz / {setting:g}) + int16 intensity)"

    def pack(self, raw: bytes) -> bytes:
        return lzma.compress(raw)

    def unpack(self, data: bytes) -> bytes:
        return lzma.decompress(data)


@register_baseline
class GPCC(PointCloudBaseline):
    """G-PCC (TMC13) octree geometry; needs its ``tmc3`` binary (``--tmc3`` or ``$TMC13``)."""

    name = "gpcc"
    description = "G-PCC TMC13 octree geometry, xyz only"
    suffix = ".gpcc"
    takes_options = True

    def __init__(self, tmc3: str | None = None, **_):
        self.tmc3 = tmc3 or os.environ.get("TMC13")

    def available(self) -> str | None:
        if not self.tmc3 or not Path(self.tmc3).is_file():
            return "tmc3 not found: build MPEG TMC13 (mpeg-pcc-tmc13) and pass --tmc3 PATH or set TMC13"
        return None

    def version(self) -> str:
        return tool_version([self.tmc3, "--help"], pick=lambda line: "TMC" in line or "version" in line.lower())

    def command(self, setting: float) -> str:
        return (f"tmc3 --mode=0 --positionQuantizationScale={1.0 / setting:g} --mergeDuplicatedPoints=0 "
                "--uncompressedDataPath=in.ply --compressedStreamPath=out.gpcc")

    def encode(self, cloud, setting: float, tmpdir: Path) -> Path:
        from ncodec.media.pointcloud import Cloud, write_cloud

        src = Path(tmpdir) / "in.ply"
        write_cloud(src, Cloud(cloud.xyz))
        dst = Path(tmpdir) / f"{self.name}-{self.label(setting)}{self.suffix}"
        run_tool([self.tmc3, "--mode=0", f"--uncompressedDataPath={src}", f"--compressedStreamPath={dst}",
                  f"--positionQuantizationScale={1.0 / setting}", "--mergeDuplicatedPoints=0"], "tmc3")
        return dst

    def decode(self, path: Path):
        from ncodec.media.pointcloud import read_cloud

        setting = float(Path(path).name.rsplit("-", 1)[1][len(self.label_prefix):-len(self.suffix)])
        with tempfile.TemporaryDirectory() as tmp:
            rec = Path(tmp) / "rec.ply"
            run_tool([self.tmc3, "--mode=1", f"--compressedStreamPath={path}", f"--reconstructedDataPath={rec}",
                      "--outputBinaryPly=1"], "tmc3")
            return _cloud(read_cloud(rec).xyz * setting, order="gpcc")
