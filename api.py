"""File-level API used by the CLI, the tools and users: encode_file, decode_file, read_info.

Generic over modalities: the input's modality (:mod:`ncodec.codecs.modality`) reads it, encodes it
with a codec and describes containers; this module checks, loads, times, writes atomically and
reports, the same way for every modality.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from ncodec import timing
from ncodec.codecs.checkpoint import find_checkpoint, load_codec
from ncodec.codecs.registry import all_modalities, get_codec, get_modality
from ncodec.entropy.container import Container, unpack
from ncodec.errors import FormatError, InputError
from ncodec.media.atomic import atomic_output, check_output, write_bytes_atomic

if TYPE_CHECKING:  # torch is imported by the codecs that need it: `info` never loads it
    import torch

_LOADED: dict[tuple[str, str, str], torch.nn.Module] = {}


def modality_of(path: Path):
    """The modality that recognises ``path`` (an input or an output name)."""
    for modality in all_modalities():
        if modality.recognises(Path(path)):
            return modality
    known = ", ".join(s for m in all_modalities() for s in m.suffixes)
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
    name = name or get_modality(modality).default_codec
    key = (name, modality, resolve_device(device))  # the modality too: load_codec checks it
    if key not in _LOADED:
        _LOADED[key] = load_codec(name, modality, key[2])
    return _LOADED[key]


def encode_file(src: Path, dst: Path, codec: str | None = None, quality: float | None = None,
                device: str = "cpu", force: bool = False, **options) -> dict:
    """Encode ``src`` to the ncodec file ``dst``; returns a report (sizes, rate, times and the
    modality's own fields). The modality comes from ``src``; ``quality`` and ``options`` are its
    options (images: ``quality``, ``target_bpp``, ``target_psnr``; point clouds: ``precision``)."""
    src, dst = Path(src), Path(dst)
    modality = modality_of(src)
    given = modality.check_options("encode", {"quality": quality, **options})
    check_output(dst, force)
    sample = modality.read(src, **given)
    model = load(codec, modality.name, device)
    with timing.record() as t:
        start = time.perf_counter()
        encoded = modality.encode(model, sample, device, **given)
        seconds = time.perf_counter() - start
    data = encoded.container.pack()
    write_bytes_atomic(dst, data, force)
    count = modality.describe(encoded.container)[modality.count_key]
    report = {"input": str(src), "output": str(dst), "codec": encoded.container.codec, "modality": modality.name,
              "bytes": len(data), modality.rate_key: len(data) * 8 / count, "seconds": seconds,
              "entropy_seconds": t.get("entropy", 0.0)}
    report.update(encoded.fields)  # a modality that encodes several times reports its final encode's times
    report["x_hat"] = encoded.x_hat
    report["summary"] = modality.summary(report)
    return report


def read_container(src: Path) -> Container:
    src = Path(src)
    if not src.is_file():
        raise InputError(f"input not found: {src}")
    return unpack(src.read_bytes())


def _modality_of_file(container: Container, src: Path):
    try:
        return get_modality(container.modality)
    except InputError:
        raise FormatError(f"{src} holds {container.modality} data, which this ncodec cannot decode") from None


def decode_file(src: Path, dst: Path, device: str = "cpu", force: bool = False, **options) -> dict:
    """Decode the ncodec file ``src`` to ``dst`` (format from its extension)."""
    src, dst = Path(src), Path(dst)
    container = read_container(src)
    check_output(dst, force)
    modality = _modality_of_file(container, src)
    given = modality.check_options("decode", options)
    if not modality.recognises(dst):
        raise InputError(f"{src} holds {modality.describe_noun()}; {dst.suffix or dst.name} is not "
                         f"{modality.describe_noun()} format")
    description = modality.describe(container)
    modality.check_writable(dst, description, **given)
    name = _checkpoint_for(container)
    model = load(name, modality.name, device)
    with timing.record() as t:
        start = time.perf_counter()
        sample, x_hat = modality.decode(model, container, device, **given)
        seconds = time.perf_counter() - start
    with atomic_output(dst, force) as tmp:
        modality.write(tmp, sample, dst, **given)
    return {"input": str(src), "output": str(dst), "codec": name, "modality": modality.name, "seconds": seconds,
            "entropy_seconds": t.get("entropy", 0.0), "x_hat": x_hat, "sample": sample}


def get_codec_for_file(container: Container) -> str:
    try:
        entry = get_codec(container.codec)
    except InputError:
        raise FormatError(f"file uses codec {container.codec!r}, which this ncodec does not have") from None
    if entry.modality != container.modality:
        raise FormatError(f"codec {container.codec!r} is not a {container.modality} codec")
    return entry.name


def _checkpoint_for(container: Container) -> str:
    """The installed checkpoint that wrote ``container`` (by codec and model id)."""
    entry = get_codec_for_file(container)
    try:
        return find_checkpoint(entry, container.model_id)
    except InputError as e:
        raise FormatError(str(e)) from None


def read_info(src: Path) -> dict:
    """Header, sections and rate of an ncodec file (never loads a model)."""
    src = Path(src)
    container = read_container(src)
    modality = _modality_of_file(container, src)
    size = src.stat().st_size
    info = {"file": str(src), "bytes": size, "format_version": container.version,
            "modality": container.modality, "codec": container.codec,
            "model_id": container.model_id.hex(), modality.rate_parameter: round(container.quality, 6),
            "sections": [len(s) for s in container.sections]}
    info.update(modality.describe(container))
    info[modality.rate_key] = size * 8 / info[modality.count_key]
    return info
