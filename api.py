"""File-level API used by the CLI, the tools and users: encode_file, decode_file, read_info."""
from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ncodec import timing
from ncodec.codecs import get_codec
from ncodec.codecs.checkpoint import DEFAULT_CODEC, find_checkpoint, load_codec
from ncodec.codecs.image import files as image_files
from ncodec.entropy.container import Container, unpack
from ncodec.errors import FormatError, InputError
from ncodec.eval.metrics import psnr
from ncodec.media import image as image_io
from ncodec.media import pointcloud as cloud_io
from ncodec.media.atomic import atomic_output, check_output, write_bytes_atomic

if TYPE_CHECKING:  # torch is imported by the codecs that need it: `info` never loads it
    import torch

# One handler per modality: which inputs it takes, how its containers are described, and (at the
# end of this file) how it encodes and decodes files (_ENCODERS, _DECODERS).
_SUFFIXES = {"image": image_io.SUFFIXES, "pointcloud": cloud_io.SUFFIXES}
# Each modality's container glue (payload description, encode/decode), imported on first use.
_FILES = {"image": "ncodec.codecs.image.files", "pointcloud": "ncodec.codecs.pointcloud.files"}


def _files(modality: str):
    if modality not in _FILES:
        raise FormatError(f"file holds a {modality}, which this ncodec cannot read")
    return importlib.import_module(_FILES[modality])


_RATE = {"image": ("bpp", "pixels"), "pointcloud": ("bits_per_point", "points")}  # key, per what
_LOADED: dict[tuple[str, str, str], torch.nn.Module] = {}


def modality_of(path: Path) -> str:
    suffix = Path(path).suffix.lower()
    for modality, suffixes in _SUFFIXES.items():
        if suffix in suffixes:
            return modality
    known = ", ".join(s for v in _SUFFIXES.values() for s in v)
    raise InputError(f"cannot tell the input type of {path} from its extension (known: {known})")


def resolve_device(device: str) -> str:
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise InputError(f"unknown device {device!r} (use cpu or cuda)")
    if device == "cpu":
        return device
    import torch

    if not torch.cuda.is_available():
        raise InputError("CUDA was requested but no GPU is available")
    return device


def load(name: str | None = None, modality: str = "image", device: str = "cpu") -> torch.nn.Module:
    """The shipped checkpoint ``name`` (default: the modality's), cached per device."""
    name = name or DEFAULT_CODEC[modality]
    key = (name, modality, resolve_device(device))  # the modality too: load_codec checks it
    if key not in _LOADED:
        _LOADED[key] = load_codec(name, modality, key[2])
    return _LOADED[key]


def _quality(codec, quality: float | None) -> float:
    lo, hi = codec.quality_range
    if quality is None:
        return float(codec.card.get("default_quality", (lo + hi) / 2))
    if not (np.isfinite(quality) and lo <= quality <= hi):
        raise InputError(f"quality must be within {lo:g}..{hi:g} for {codec.codec_name}, got {quality}")
    return float(np.float32(quality))  # the header stores f32: encode with exactly what decoding will use


def _encode_once(model, picture, quality: float, device: str) -> dict:
    with timing.record() as t:
        start = time.perf_counter()
        container, x_hat = image_files.encode_picture(model, picture, quality, device)
        seconds = time.perf_counter() - start
    data = container.pack()
    decoded = image_files.to_pixels(x_hat, picture.bit_depth, min(picture.channels, 3))
    reference = picture.pixels[..., :3] if picture.channels >= 3 else picture.pixels
    return {"codec": container.codec, "quality": quality, "width": picture.width, "height": picture.height,
            "bytes": len(data), "bpp": len(data) * 8 / (picture.width * picture.height),
            "psnr": psnr(reference, decoded, (1 << picture.bit_depth) - 1), "seconds": seconds,
            "entropy_seconds": t.get("entropy", 0.0), "x_hat": x_hat, "data": data}


def _search_quality(model, picture, device: str, target_bpp: float | None, target_psnr: float | None,
                    steps: int = 8) -> dict:
    """Bisection over the continuous quality on real encodings (file bytes, decoded PSNR): the
    highest quality whose file is within ``target_bpp``, or the lowest whose PSNR reaches
    ``target_psnr``. Rate and PSNR grow with quality; if no quality meets the target, the closest
    end of the range is used and the report says so (``target_met``)."""
    lo, hi = (float(np.float32(v)) for v in model.quality_range)

    def meets(r: dict) -> bool:
        return r["bpp"] <= target_bpp if target_bpp is not None else r["psnr"] >= target_psnr

    # bpp: keep the best (highest q) that meets; PSNR: keep the lowest q that meets.
    low_end, high_end = _encode_once(model, picture, lo, device), _encode_once(model, picture, hi, device)
    if target_bpp is not None:
        if meets(high_end):
            return high_end | {"target_met": True}
        if not meets(low_end):
            return low_end | {"target_met": False}
        best, a, b = low_end, lo, hi
    else:
        if meets(low_end):
            return low_end | {"target_met": True}
        if not meets(high_end):
            return high_end | {"target_met": False}
        best, a, b = high_end, lo, hi
    for _ in range(steps):
        mid = float(np.float32((a + b) / 2))
        r = _encode_once(model, picture, mid, device)
        if target_bpp is not None:
            a, b, best = (mid, b, r) if meets(r) else (a, mid, best)
        else:
            a, b, best = (a, mid, r) if meets(r) else (mid, b, best)
    return best | {"target_met": True}


def encode_file(src: Path, dst: Path, codec: str | None = None, quality: float | None = None,
                device: str = "cpu", force: bool = False, target_bpp: float | None = None,
                target_psnr: float | None = None, precision: float | None = None) -> dict:
    """Encode ``src`` to the ncodec file ``dst``; returns a report (sizes, rate, quality, times).
    Images take at most one of ``quality``, ``target_bpp``, ``target_psnr``; point clouds take
    ``precision`` (metres). The modality comes from ``src``'s extension."""
    src, dst = Path(src), Path(dst)
    return _ENCODERS[modality_of(src)](src, dst, codec, device, force, precision=precision, quality=quality,
                                       target_bpp=target_bpp, target_psnr=target_psnr)


def _encode_image_file(src: Path, dst: Path, codec: str | None, device: str, force: bool,
                       precision: float | None, quality: float | None, target_bpp: float | None,
                       target_psnr: float | None) -> dict:
    if precision is not None:
        raise InputError("--precision applies to point clouds only")
    if sum(v is not None for v in (quality, target_bpp, target_psnr)) > 1:
        raise InputError("give only one of --quality, --target-bpp, --target-psnr")
    for name, value in (("target bpp", target_bpp), ("target PSNR", target_psnr)):
        if value is not None and not (np.isfinite(value) and value > 0):
            raise InputError(f"{name} must be a positive number, got {value}")
    check_output(dst, force)
    picture = image_io.read_image(src)
    model = load(codec, "image", device)
    if target_bpp is None and target_psnr is None:
        report = _encode_once(model, picture, _quality(model, quality), device)
    else:
        report = _search_quality(model, picture, device, target_bpp, target_psnr)
    write_bytes_atomic(dst, report.pop("data"), force)
    return {"input": str(src), "output": str(dst), **report}


def read_container(src: Path) -> Container:
    src = Path(src)
    if not src.is_file():
        raise InputError(f"input not found: {src}")
    return unpack(src.read_bytes())


def decode_file(src: Path, dst: Path, device: str = "cpu", force: bool = False) -> dict:
    """Decode the ncodec file ``src`` to ``dst`` (format from its extension)."""
    src, dst = Path(src), Path(dst)
    container = read_container(src)
    check_output(dst, force)
    if container.modality not in _DECODERS:
        raise FormatError(f"{src} holds a {container.modality}, which this ncodec cannot decode")
    if modality_of(dst) != container.modality:
        raise InputError(f"{src} holds a {container.modality}; {dst.suffix} is not a {container.modality} format")
    return _DECODERS[container.modality](src, dst, container, device, force)


def _checkpoint_for(container: Container) -> str:
    """The installed checkpoint that wrote ``container`` (by codec and model id)."""
    entry = get_codec_for_file(container)
    try:
        return find_checkpoint(entry, container.model_id)
    except InputError as e:
        raise FormatError(str(e)) from None


def _decode_image_file(src: Path, dst: Path, container: Container, device: str, force: bool) -> dict:
    d = image_files.describe(container)
    image_io.check_writable(dst, d["bit_depth"], d["channels"])
    name = _checkpoint_for(container)
    model = load(name, "image", device)
    start = time.perf_counter()
    with timing.record() as t:
        picture, x_hat = image_files.decode_container(model, container)
    seconds = time.perf_counter() - start
    with atomic_output(dst, force) as tmp:
        image_io.write_image(tmp, picture)
    return {"input": str(src), "output": str(dst), "codec": name, "seconds": seconds,
            "entropy_seconds": t.get("entropy", 0.0), "x_hat": x_hat, "picture": picture}


def get_codec_for_file(container: Container) -> str:
    try:
        entry = get_codec(container.codec)
    except InputError:
        raise FormatError(f"file uses codec {container.codec!r}, which this ncodec does not have") from None
    if entry.modality != container.modality:
        raise FormatError(f"codec {container.codec!r} is not a {container.modality} codec")
    return entry.name


def read_info(src: Path) -> dict:
    """Header, sections and rate of an ncodec file."""
    src = Path(src)
    container = read_container(src)
    size = src.stat().st_size
    info = {"file": str(src), "bytes": size, "format_version": container.version,
            "modality": container.modality, "codec": container.codec,
            "model_id": container.model_id.hex(), "quality": round(container.quality, 6),
            "sections": [len(s) for s in container.sections]}
    info.update(_files(container.modality).describe(container))
    key, per = _RATE[container.modality]
    info[key] = size * 8 / info[per]
    return info


# -- point clouds ---------------------------------------------------------------------------------

def _encode_cloud_file(src: Path, dst: Path, codec: str | None, device: str, force: bool,
                       precision: float | None = None, **unused) -> dict:
    if any(v is not None for v in unused.values()):
        raise InputError("--quality/--target-bpp/--target-psnr do not apply to point clouds (use --precision)")
    cloud_files = _files("pointcloud")
    cloud_files.check_precision(precision)
    check_output(dst, force)
    cloud = cloud_io.read_cloud(src)
    model = load(codec, "pointcloud", "cpu")
    (container, recon), seconds, entropy = cloud_files.timed(cloud_files.encode_cloud, model, cloud, precision)
    data = container.pack()
    write_bytes_atomic(dst, data, force)
    n_out = len(recon["xyz"])
    d = cloud_files.describe(container)
    report = {"input": str(src), "output": str(dst), "codec": container.codec, "modality": "pointcloud",
              "points": len(cloud), "points_out": n_out, "bytes": len(data),
              "bits_per_point": len(data) * 8 / len(cloud), "precision": d["precision"],
              "max_error_bound": d["max_error"], "seconds": seconds, "entropy_seconds": entropy,
              "intensity": d["intensity"], "order": d["order"], "x_hat": recon}
    report["max_error"] = recon["max_error"]
    report["summary"] = (f"{dst}: {len(data)} bytes, {report['bits_per_point']:.3f} bits/point "
                         f"({container.codec}, {len(cloud)} points in, {n_out} out, precision {d['precision']:g} m, "
                         f"max error {recon['max_error']:.3g} m (bound {d['max_error']:g}), intensity {d['intensity']}, {seconds:.3f} s)")
    return report


def _decode_cloud_file(src: Path, dst: Path, container: Container, device: str, force: bool) -> dict:
    cloud_files = _files("pointcloud")
    cloud_files.describe(container)
    name = _checkpoint_for(container)
    model = load(name, "pointcloud", "cpu")
    out, seconds, entropy = cloud_files.timed(cloud_files.decode_container, model, container)
    cloud = cloud_io.Cloud(out["xyz"], out.get("intensity"), out.get("ring"),
                           grid=out.get("step") or out.get("voxel"))
    with atomic_output(dst, force) as tmp:
        cloud_io.write_cloud(tmp, cloud, target=dst)
    return {"input": str(src), "output": str(dst), "codec": name, "seconds": seconds, "entropy_seconds": entropy,
            "points": len(cloud), "x_hat": out}


_ENCODERS = {"image": _encode_image_file, "pointcloud": _encode_cloud_file}
_DECODERS = {"image": _decode_image_file, "pointcloud": _decode_cloud_file}
