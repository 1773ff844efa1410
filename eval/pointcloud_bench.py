"""LiDAR benchmark: ncodec ``lidar`` vs LASzip, Draco, gzip/zstd/lzma (and G-PCC with a TMC13 binary).

    python -m ncodec.eval.pointcloud_bench --data ../shared/data/lidar --precision 0.001

Every frame (``*.bin`` KITTI, ``*.pcd.bin`` nuScenes, ``.las/.laz/.ply/.pcd``) is coded by each
codec at the same guaranteed max error per coordinate (precision / 2):

* ours: ``lidar`` with xyz + intensity (``ours``) and xyz only (``ours-xyz``);
* LASzip (lazrs via laspy): point format 0, scale = precision, intensity as integers on its grid
  (``laszip``), and with intensity zeroed (``laszip-xyz``);
* Draco (DracoPy, point cloud, compression level 10): quantisation bits = the fewest whose step
  (bounding-box extent / (2^bits - 1)) is <= precision, geometry only;
* gzip -9 / zstd -19 / lzma of the quantised points as int32 x, y, z (+ int16 intensity);
* G-PCC (TMC13) when ``--tmc13`` or ``$TMC13`` names a ``tmc3`` binary.

Bits per point come from the byte counts of the whole coded file (ours: the ncodec file with its
header). Errors are measured on the decoded points (see :mod:`ncodec.eval.pointcloud_metrics`).
Results: one JSON per codec in CompressAI's layout (``{"name", "description", "results", "meta"}``)
under ``--out``, and a side-by-side table with ratios to ours.
"""
from __future__ import annotations

import argparse
import io
import json
import lzma
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

from ncodec.eval.pointcloud_metrics import coordinate_error, distortion

_TRAIN_FRAMES = {"0000000000.bin", "0000000001.bin", "0000000002.bin"}  # the shipped model's training set


def frames(root: Path) -> list[Path]:
    from ncodec.media.pointcloud import SUFFIXES

    return sorted(p for p in Path(root).rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def _quantised(cloud, precision):
    q = np.floor(cloud.xyz / precision + 0.5).astype(np.int64)
    return q


def _intensity_ints(cloud):
    from ncodec.codecs.pointcloud.lidar import choose_grid

    if cloud.intensity is None:
        return np.zeros(len(cloud), np.int64)
    k = choose_grid(cloud.intensity, float32=True)
    scale = 10**k if k is not None else 65535 / max(float(cloud.intensity.max()), 1e-12)
    return np.round(cloud.intensity * scale).astype(np.int64)


def run_ours(path: Path, precision: float, model, xyz_only: bool) -> dict:
    from ncodec.codecs.pointcloud import modality as files
    from ncodec.entropy.container import unpack
    from ncodec.media.pointcloud import read_cloud

    t0, c0 = time.perf_counter(), time.process_time()
    cloud = read_cloud(path)
    if xyz_only:
        cloud.intensity = None
    container, recon = files.encode_cloud(model, cloud, precision)
    data = container.pack()
    t1, c1 = time.perf_counter(), time.process_time()
    out = files.decode_container(model, unpack(data))
    t2 = time.perf_counter()
    if not np.array_equal(out["xyz"], recon["xyz"]):
        raise RuntimeError(f"{path}: decoded points differ from the encoder's reconstruction")
    original = cloud.xyz[recon["perm"]]
    return {"bytes": len(data), "decoded": out["xyz"], "encode_seconds": t1 - t0, "decode_seconds": t2 - t1,
            "encode_cpu_seconds": c1 - c0, "coord_error": coordinate_error(original, out["xyz"]),
            "intensity_exact": None if cloud.intensity is None else
            bool(np.array_equal(out["intensity"].astype(np.float32), cloud.intensity[recon["perm"]].astype(np.float32)))}


def run_laszip(cloud, precision: float, with_intensity: bool) -> dict:
    import laspy

    q = _quantised(cloud, precision)
    header = laspy.LasHeader(point_format=0, version="1.2")
    header.scales, header.offsets = [precision] * 3, [0.0, 0.0, 0.0]
    las = laspy.LasData(header)
    las.X, las.Y, las.Z = q[:, 0], q[:, 1], q[:, 2]
    ints = _intensity_ints(cloud) if with_intensity else np.zeros(len(q), np.int64)
    las.intensity = np.clip(ints, 0, 65535).astype(np.uint16)
    t0 = time.perf_counter()
    buf = io.BytesIO()
    las.write(buf, do_compress=True, laz_backend=laspy.LazBackend.Lazrs)
    t1 = time.perf_counter()
    back = laspy.read(io.BytesIO(buf.getvalue()))
    t2 = time.perf_counter()
    dec = np.stack([np.asarray(back.x), np.asarray(back.y), np.asarray(back.z)], axis=1)
    return {"bytes": len(buf.getvalue()), "decoded": dec, "encode_seconds": t1 - t0, "decode_seconds": t2 - t1,
            "coord_error": coordinate_error(cloud.xyz, dec)}


def draco_bits(xyz: np.ndarray, precision: float) -> int:
    extent = float((xyz.max(axis=0) - xyz.min(axis=0)).max())
    return int(min(max(np.ceil(np.log2(extent / precision + 1)), 1), 30))


def run_draco(cloud, precision: float) -> dict:
    import DracoPy

    bits = draco_bits(cloud.xyz, precision)
    t0 = time.perf_counter()
    data = DracoPy.encode(cloud.xyz.astype(np.float32), quantization_bits=bits, compression_level=10)
    t1 = time.perf_counter()
    dec = np.asarray(DracoPy.decode(data).points, dtype=np.float64)
    t2 = time.perf_counter()
    return {"bytes": len(data), "decoded": dec, "encode_seconds": t1 - t0, "decode_seconds": t2 - t1,
            "quantization_bits": bits}


def run_generic(cloud, precision: float, kind: str, with_intensity: bool) -> dict:
    import zstandard

    q = _quantised(cloud, precision)
    raw = q.astype("<i4").tobytes()
    if with_intensity:
        raw += np.clip(_intensity_ints(cloud), -32768, 32767).astype("<i2").tobytes()
    comp, decomp = {"gzip": (lambda b: zlib.compress(b, 9), zlib.decompress),
                    "zstd": (lambda b: zstandard.ZstdCompressor(level=19).compress(b),
                             lambda b: zstandard.ZstdDecompressor().decompress(b)),
                    "lzma": (lzma.compress, lzma.decompress)}[kind]
    t0 = time.perf_counter()
    data = comp(raw)
    t1 = time.perf_counter()
    back = decomp(data)
    t2 = time.perf_counter()
    dec = np.frombuffer(back[: 12 * len(q)], dtype="<i4").reshape(-1, 3) * precision
    return {"bytes": len(data), "decoded": dec, "encode_seconds": t1 - t0, "decode_seconds": t2 - t1,
            "coord_error": coordinate_error(cloud.xyz, dec)}


def run_gpcc(cloud, precision: float, tmc3: str) -> dict:
    """G-PCC (TMC13, octree geometry) at position scale 1/precision; geometry only."""
    from ncodec.media.pointcloud import Cloud, write_cloud

    with tempfile.TemporaryDirectory() as tmp:
        src, bit, rec = Path(tmp) / "in.ply", Path(tmp) / "out.bin", Path(tmp) / "rec.ply"
        write_cloud(src, Cloud(cloud.xyz))
        t0 = time.perf_counter()
        subprocess.run([tmc3, "--mode=0", f"--uncompressedDataPath={src}", f"--compressedStreamPath={bit}",
                        f"--positionQuantizationScale={1.0 / precision}", "--mergeDuplicatedPoints=0"],
                       check=True, capture_output=True)
        t1 = time.perf_counter()
        subprocess.run([tmc3, "--mode=1", f"--compressedStreamPath={bit}", f"--reconstructedDataPath={rec}",
                        f"--outputBinaryPly=1"], check=True, capture_output=True)
        t2 = time.perf_counter()
        from ncodec.media.pointcloud import read_cloud

        dec = read_cloud(rec).xyz * precision
        return {"bytes": bit.stat().st_size, "decoded": dec, "encode_seconds": t1 - t0, "decode_seconds": t2 - t1}


CODECS = {
    "ours": "ncodec lidar (xyz + intensity)",
    "ours-xyz": "ncodec lidar (xyz only)",
    "laszip": "LASzip via lazrs (xyz + intensity, point format 0)",
    "laszip-xyz": "LASzip via lazrs (xyz only)",
    "draco": "Draco (DracoPy) point cloud, level 10, xyz only",
    "gzip": "gzip -9 of int32 xyz + int16 intensity",
    "zstd": "zstd -19 of int32 xyz + int16 intensity",
    "lzma": "lzma (xz) of int32 xyz + int16 intensity",
    "gpcc": "G-PCC TMC13 octree geometry, xyz only",
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--precision", type=float, default=0.001)
    ap.add_argument("--codec", default="lidar", help="shipped point-cloud model")
    ap.add_argument("--out", type=Path, default=Path("runs/pointcloud_bench"))
    ap.add_argument("--tmc13", default=os.environ.get("TMC13"), help="path to a tmc3 binary (G-PCC)")
    ap.add_argument("--no-d2", action="store_true", help="skip point-to-plane PSNR (slower)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of ours per frame (the median is kept)")
    ap.add_argument("--update-card", action="store_true", help="store the measured sizes and times in the model card")
    a = ap.parse_args(argv)
    from ncodec.api import load
    from ncodec.errors import InputError
    from ncodec.media.pointcloud import read_cloud

    if not (np.isfinite(a.precision) and a.precision > 0):
        raise SystemExit("pointcloud_bench: --precision must be > 0")
    paths = frames(a.data)
    if not paths:
        raise SystemExit(f"pointcloud_bench: no point clouds under {a.data}")
    model = load(a.codec, "pointcloud")
    names = [n for n in CODECS if n != "gpcc" or a.tmc13]
    results = {n: {"frame": [], "points": [], "bytes": [], "bits_per_point": [], "max_error": [],
                   "max_coord_error": [], "mean_error": [], "d1_psnr": [], "d2_psnr": [],
                   "encode_seconds": [], "decode_seconds": [], "in_training_set": []} for n in names}
    extra: dict[str, dict] = {n: {} for n in names}
    for path in paths:
        try:
            cloud = read_cloud(path)
        except InputError as e:
            print(f"skip {path}: {e}")
            continue
        rel = str(path.relative_to(a.data))
        from ncodec.eval.pointcloud_metrics import normals

        frame_normals = None if a.no_d2 else normals(cloud.xyz)
        for name in names:
            if name in ("ours", "ours-xyz"):
                run_ours(path, a.precision, model, name == "ours-xyz")  # warm-up (first call builds tables)
                runs = [run_ours(path, a.precision, model, name == "ours-xyz") for _ in range(a.repeat)]
                r = dict(runs[0])
                for key in ("encode_seconds", "decode_seconds", "encode_cpu_seconds"):
                    r[key] = float(np.median([x[key] for x in runs]))
            elif name.startswith("laszip"):
                r = run_laszip(cloud, a.precision, name == "laszip")
            elif name == "draco":
                r = run_draco(cloud, a.precision)
                extra[name].setdefault("quantization_bits", []).append(r["quantization_bits"])
            elif name == "gpcc":
                r = run_gpcc(cloud, a.precision, a.tmc13)
            else:
                r = run_generic(cloud, a.precision, name, True)
            m = distortion(cloud.xyz, r["decoded"], with_d2=not a.no_d2, original_normals=frame_normals)
            row = results[name]
            row["frame"].append(rel)
            row["points"].append(len(cloud))
            row["bytes"].append(r["bytes"])
            row["bits_per_point"].append(r["bytes"] * 8 / len(cloud))
            row["max_error"].append(m["max_error"])
            row["max_coord_error"].append(r.get("coord_error"))
            row["mean_error"].append(m["mean_error"])
            row["d1_psnr"].append(m["d1_psnr"])
            row["d2_psnr"].append(m.get("d2_psnr"))
            row["encode_seconds"].append(r["encode_seconds"])
            row["decode_seconds"].append(r["decode_seconds"])
            row["in_training_set"].append(path.name in _TRAIN_FRAMES)
            if name == "ours":
                extra[name].setdefault("intensity_lossless", []).append(r["intensity_exact"])
            if name in ("ours", "ours-xyz"):
                extra[name].setdefault("encode_cpu_seconds", []).append(r["encode_cpu_seconds"])
    a.out.mkdir(parents=True, exist_ok=True)
    meta = {"precision": a.precision, "guaranteed_max_coordinate_error": a.precision / 2,
            "psnr_peak": "bounding-box diagonal of the original frame (metres)",
            "max_error": "symmetric nearest-neighbour Euclidean distance (m); max_coord_error: per coordinate, matched order",
            "machine": platform.machine(), "cpu_count": os.cpu_count(),
            "command": "python -m ncodec.eval.pointcloud_bench " + " ".join(sys.argv[1:] if argv is None else argv)}
    for name in names:
        res = results[name] | extra[name]
        doc = {"name": name, "description": CODECS[name], "results": res, "meta": meta}
        (a.out / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    print_table(results, names, a.precision, extra["ours"].get("encode_cpu_seconds"))
    if a.update_card:
        print(f"card: {update_card(a.codec, results, meta)}")
    return 0


def update_card(name: str, results: dict, meta: dict) -> Path:
    """Store this run's per-frame sizes and our times in ``checkpoints/<name>.json`` (``measured``)."""
    import datetime

    from ncodec.codecs.checkpoint import card_path, set_card_field

    card = json.loads(card_path(name).read_text())
    measured = {"command": meta["command"], "date": datetime.date.today().isoformat(),
                "model_id": card.get("model_id"), "precision_m": meta["precision"],
                "frames": results["ours"]["frame"]}
    for codec in ("ours", "ours-xyz", "laszip", "laszip-xyz", "draco"):
        measured[f"bits_per_point_{codec}"] = [round(v, 3) for v in results[codec]["bits_per_point"]]
    for key in ("encode_seconds", "decode_seconds"):
        measured[f"{key}_ours"] = [round(v, 4) for v in results["ours"][key]]
    return set_card_field(name, "measured", measured)


def print_table(results: dict, names: list[str], precision: float, cpu_seconds: list | None = None) -> None:
    frames_ = results["ours"]["frame"]
    print(f"precision {precision} m (guaranteed max error {precision / 2:g} m per coordinate); "
          f"bits per point (max nearest-neighbour error in mm)")
    head = f"{'frame':<44}" + "".join(f"{n:>18}" for n in names)
    print(head)
    for i, f in enumerate(frames_):
        cells = []
        for n in names:
            bpp, err = results[n]["bits_per_point"][i], results[n]["max_error"][i] * 1000
            cells.append(f"{bpp:8.2f} ({err:5.2f})")
        tag = " [train]" if results["ours"]["in_training_set"][i] else ""
        print(f"{(f[-36:] + tag):<44}" + "".join(f"{c:>18}" for c in cells))
    print("size ratios per frame (< 1: ours smaller; target <= 0.85 vs LASzip and Draco):")
    pairs = [("ours", "laszip"), ("ours-xyz", "laszip-xyz"), ("ours-xyz", "draco")] + \
        [("ours", g) for g in ("gzip", "zstd", "lzma")] + ([("ours-xyz", "gpcc")] if "gpcc" in names else [])
    print(f"{'frame':<44}" + "".join(f"{a_ + '/' + b_:>22}" for a_, b_ in pairs))
    for i, f in enumerate(frames_):
        tag = " [train]" if results["ours"]["in_training_set"][i] else ""
        print(f"{(f[-36:] + tag):<44}" + "".join(
            f"{results[a_]['bits_per_point'][i] / results[b_]['bits_per_point'][i]:>22.3f}" for a_, b_ in pairs))
    print("ours, per dataset (median of the timed runs per frame, then the mean over frames; encode "
          "includes reading the file):")
    cpu_all = np.array(cpu_seconds if cpu_seconds else [np.nan] * len(frames_))
    datasets = [str(Path(f).parent) for f in frames_]
    for d in dict.fromkeys(datasets):
        rows = [i for i, x in enumerate(datasets) if x == d]
        enc = np.array(results["ours"]["encode_seconds"])[rows]
        dec = np.array(results["ours"]["decode_seconds"])[rows]
        cpu = cpu_all[rows]
        points = np.mean(np.array(results["ours"]["points"])[rows])
        print(f"  {d:<20} {points:8.0f} points: encode {1 / enc.mean():5.1f} sweeps/s wall "
              f"({enc.mean() * 1000:.0f} ms, CPU {cpu.mean() * 1000:.0f} ms over the threads), "
              f"decode {dec.mean() * 1000:.0f} ms")


if __name__ == "__main__":
    raise SystemExit(main())
