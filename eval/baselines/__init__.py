"""Baseline codecs: a registry of real encoders (name -> object), each producing a real file.

    from ncodec.eval.baselines import get_baseline, baseline_names
    jpeg = get_baseline("jpeg")
    jpeg.available()            # None, or the install hint when its tool is missing

Every baseline declares the modality it codes (``Baseline.modality``): images (jpeg, jpeg444, webp,
jpeg2000, avif, jxl, x265, vtm), point clouds (laszip, draco, gzip, zstd, lzma, gpcc), video (x264-ld,
x265-ld, hm-ld, vtm-ld).

Modules register their codecs with ``@register_baseline``; importing this package loads them all
(every module in this folder is discovered).
"""
from __future__ import annotations

from ncodec.errors import InputError
from ncodec.eval.baselines.base import Baseline

_REGISTRY: dict[str, type[Baseline]] = {}


def register_baseline(cls: type[Baseline]) -> type[Baseline]:
    if cls.name in _REGISTRY:
        raise ValueError(f"baseline {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def baseline_names(modality: str | None = None) -> list[str]:
    """Registered baselines (of one modality)."""
    return [n for n, cls in _REGISTRY.items() if modality in (None, cls.modality)]


def baseline_modality(name: str) -> str:
    return _REGISTRY[name].modality


def get_baseline(name: str, **options) -> Baseline:
    """A fresh baseline object; ``options`` go to the classes that take them (vtm_dir, tmc3)."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown baseline {name!r} (valid: {', '.join(_REGISTRY)})") from None
    return cls(**options) if getattr(cls, "takes_options", False) else cls()


def _load_all() -> None:
    """Import every module of this package (each registers its baselines): a new baseline file,
    of any modality, needs no edit here."""
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


_load_all()
