"""Point-cloud files in and out, by file name.

* ``.bin``      KITTI Velodyne: headerless little-endian float32 rows ``x, y, z, reflectance``
* ``.pcd.bin``  nuScenes LIDAR_TOP: float32 rows ``x, y, z, intensity, ring``
* ``.ply`` ``.pcd``  via open3d's tensor API (an ``intensity`` attribute is kept when present)
* ``.las`` ``.laz``  via laspy (LAZ through lazrs); the LAS scale tells the input's own precision.
  LAS intensity is a 16-bit integer: fractional intensities in [0, 1] (KITTI reflectance) are
  written scaled by 65535, other values rounded.

Every reader refuses (InputError, one line) an empty cloud, non-finite coordinates (the count is
given) and a raw file whose size is not a multiple of its record size.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ncodec.entropy.limits import MAX_POINTS  # one bound for the reader and every decoder
from ncodec.errors import InputError

SUFFIXES = (".bin", ".ply", ".pcd", ".las", ".laz")


@dataclass
class Cloud:
    """``xyz`` (N, 3) float64 metres; ``intensity`` (N,) float64 or None; ``ring`` (N,) int or None.

    ``grid`` is the input's own coordinate step when the format records one (LAS scale)."""

    xyz: np.ndarray
    intensity: np.ndarray | None = None
    ring: np.ndarray | None = None
    grid: float | None = None
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.xyz)


def kind_of(path: Path) -> str:
    """Format key of a file name: kitti, nuscenes, ply, pcd, las."""
    name = Path(path).name.lower()
    if name.endswith(".pcd.bin"):
        return "nuscenes"
    suffix = Path(name).suffix
    kinds = {".bin": "kitti", ".ply": "ply", ".pcd": "pcd", ".las": "las", ".laz": "las"}
    if suffix not in kinds:
        raise InputError(f"unknown point-cloud format {suffix!r} (known: .bin .pcd.bin .ply .pcd .las .laz)")
    return kinds[suffix]


def check_cloud(cloud: Cloud, source: str) -> Cloud:
    xyz = cloud.xyz
    if len(xyz) == 0:
        raise InputError(f"{source}: point cloud is empty (0 points)")
    if len(xyz) > MAX_POINTS:
        raise InputError(f"{source}: too many points ({len(xyz)} > {MAX_POINTS})")
    total = float(xyz.sum()) + (0.0 if cloud.intensity is None else float(cloud.intensity.sum()))
    if np.isfinite(total):  # NaN and inf propagate into the sum: the common case costs one pass
        return cloud
    bad = ~np.isfinite(xyz).all(axis=1)
    if cloud.intensity is not None:
        bad |= ~np.isfinite(cloud.intensity)
    if bad.any():
        raise InputError(f"{source}: {int(bad.sum())} of {len(xyz)} points have NaN/inf values (refused)")
    return cloud


def _read_raw(path: Path, columns: int) -> np.ndarray:
    size = path.stat().st_size
    record = 4 * columns
    if size % record:
        raise InputError(f"{path}: size {size} bytes is not a multiple of the {record}-byte record "
                         f"({columns} float32 values per point)")
    return np.fromfile(path, dtype="<f4").reshape(-1, columns)


def read_cloud(path: Path) -> Cloud:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input not found: {path}")
    kind = kind_of(path)
    if kind == "kitti":
        a = _read_raw(path, 4)
        cloud = Cloud(a[:, :3].astype(np.float64), a[:, 3].astype(np.float64))
    elif kind == "nuscenes":
        a = _read_raw(path, 5)
        ring = a[:, 4]
        ring_ok = np.isfinite(ring).all() and (ring == np.round(ring)).all() and (ring >= 0).all() and (ring < 65536).all()
        cloud = Cloud(a[:, :3].astype(np.float64), a[:, 3].astype(np.float64),
                      ring.astype(np.int64) if ring_ok and len(a) else None)
    elif kind == "las":
        cloud = _read_las(path)
    else:
        cloud = _read_open3d(path)
    cloud.meta.setdefault("format", kind)
    return check_cloud(cloud, str(path))


def _read_las(path: Path) -> Cloud:
    import laspy

    try:
        las = laspy.read(path)
    except Exception as e:  # noqa: BLE001 - any unreadable file is bad input
        raise InputError(f"{path}: cannot read LAS/LAZ ({type(e).__name__}: {str(e)[:120]})") from None
    xyz = np.stack([np.asarray(las.x), np.asarray(las.y), np.asarray(las.z)], axis=1).astype(np.float64)
    scales = np.asarray(las.header.scales, dtype=np.float64)
    grid = float(scales.max()) if np.allclose(scales, scales[0]) else None
    return Cloud(xyz, np.asarray(las.intensity).astype(np.float64), grid=grid)


def _read_open3d(path: Path) -> Cloud:
    import open3d as o3d

    try:
        pcd = o3d.t.io.read_point_cloud(str(path))
    except Exception as e:  # noqa: BLE001
        raise InputError(f"{path}: cannot read point cloud ({type(e).__name__})") from None
    if "positions" not in pcd.point or len(pcd.point.positions) == 0:
        with open(path, "rb") as f:
            head = f.read(4)
        if path.suffix.lower() == ".ply" and head[:3] != b"ply":
            raise InputError(f"{path}: not a PLY file")
        if path.stat().st_size == 0:
            raise InputError(f"{path}: file is empty")
        return Cloud(np.zeros((0, 3)))
    xyz = pcd.point.positions.numpy().astype(np.float64)
    intensity = None
    for key in ("intensity", "scalar_intensity", "reflectance"):
        if key in pcd.point:
            intensity = pcd.point[key].numpy().reshape(-1).astype(np.float64)
            break
    return Cloud(xyz, intensity)


def write_cloud(path: Path, cloud: Cloud, target: Path | None = None) -> None:
    """Write ``cloud`` to ``path`` in the format named by ``target`` (default: ``path``)."""
    path = Path(path)
    kind = kind_of(target or path)
    xyz, n = cloud.xyz, len(cloud.xyz)
    intensity = cloud.intensity if cloud.intensity is not None else np.zeros(n)
    if kind == "kitti":
        np.column_stack([xyz, intensity]).astype("<f4").tofile(path)
    elif kind == "nuscenes":
        ring = cloud.ring if cloud.ring is not None else np.zeros(n)
        np.column_stack([xyz, intensity, ring]).astype("<f4").tofile(path)
    elif kind == "las":
        _write_las(path, cloud, intensity, (target or path).suffix.lower() == ".laz")
    else:
        import open3d as o3d

        pcd = o3d.t.geometry.PointCloud()
        pcd.point.positions = o3d.core.Tensor(xyz.astype(np.float64))
        if cloud.intensity is not None:
            pcd.point.intensity = o3d.core.Tensor(intensity.astype(np.float32).reshape(-1, 1))
        if not o3d.t.io.write_point_cloud(str(path), pcd, write_ascii=False):
            raise InputError(f"cannot write {target or path}")


def _write_las(path: Path, cloud: Cloud, intensity: np.ndarray, compress: bool) -> None:
    import laspy

    grid = cloud.grid or 0.001
    header = laspy.LasHeader(point_format=0, version="1.2")
    lo = np.floor(cloud.xyz.min(axis=0)) if len(cloud.xyz) else np.zeros(3)
    header.offsets, header.scales = lo, [grid] * 3
    las = laspy.LasData(header)
    for axis, name in enumerate("XYZ"):
        setattr(las, name, np.round((cloud.xyz[:, axis] - lo[axis]) / grid).astype(np.int32))
    if not np.array_equal(intensity, np.round(intensity)) and intensity.min() >= 0 and intensity.max() <= 1:
        intensity = intensity * 65535.0  # fractional reflectance in [0, 1]: LAS's normalised 16-bit scale
    las.intensity = np.clip(np.round(intensity), 0, 65535).astype(np.uint16)
    with open(path, "wb") as f:
        las.write(f, do_compress=compress, laz_backend=laspy.LazBackend.Lazrs if compress else None)
