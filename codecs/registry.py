"""Codec registry: codecs are found by their registered name, never by a list position."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ncodec.errors import InputError

MODALITIES = ("image", "video", "pointcloud")


@dataclass(frozen=True)
class CodecEntry:
    name: str
    modality: str
    factory: Callable
    description: str


_REGISTRY: dict[str, CodecEntry] = {}

# The modules that define (register) each modality's codecs, imported on first need: a
# point-cloud command never pays for the image stack (compressai's import alone takes seconds).
_FAMILIES = {
    "pointcloud": ("ncodec.codecs.pointcloud.lidar", "ncodec.codecs.pointcloud.octree"),
    "image": ("ncodec.codecs.image.hyperprior", "ncodec.codecs.image.ssm", "ncodec.codecs.image.swin",
              "ncodec.codecs.image.wavelet"),
}
_LOADED: set[str] = set()


def load_family(modality: str) -> None:
    """Import (and so register) the codecs of one modality."""
    import importlib

    if modality not in _LOADED:
        for module in _FAMILIES.get(modality, ()):
            importlib.import_module(module)
        _LOADED.add(modality)


def register_codec(name: str, modality: str, description: str = ""):
    """Class decorator: ``@register_codec("hyperprior", "image")``."""
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}")

    def wrap(cls):
        if name in _REGISTRY:
            raise ValueError(f"codec {name!r} is already registered")
        _REGISTRY[name] = CodecEntry(name, modality, cls, description or (cls.__doc__ or "").strip().split("\n")[0])
        cls.codec_name, cls.modality = name, modality
        return cls

    return wrap


def get_codec(name: str) -> CodecEntry:
    for modality in _FAMILIES:  # cheapest family first
        if name in _REGISTRY:
            break
        load_family(modality)
    try:
        return _REGISTRY[name]
    except KeyError:
        valid = ", ".join(sorted(_REGISTRY)) or "none"
        raise InputError(f"unknown codec {name!r} (valid: {valid})") from None


def list_codecs(modality: str | None = None) -> list[str]:
    for family in _FAMILIES if modality is None else (modality,):
        load_family(family)
    return sorted(n for n, e in _REGISTRY.items() if modality in (None, e.modality))
