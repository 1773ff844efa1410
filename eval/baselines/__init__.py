"""Baseline codecs: a registry of real encoders (name -> object), each producing a real file.

    from ncodec.eval.baselines import get_baseline, baseline_names
    jpeg = get_baseline("jpeg")
    jpeg.available()            # None, or the install hint when its tool is missing

Modules register their codecs with ``@register_baseline``; importing this package loads them all.
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


def baseline_names() -> list[str]:
    return list(_REGISTRY)


def get_baseline(name: str, **options) -> Baseline:
    """A fresh baseline object; ``options`` go to the classes that take them (e.g. vtm_dir)."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown baseline {name!r} (valid: {', '.join(_REGISTRY)})") from None
    return cls(**options) if getattr(cls, "takes_options", False) else cls()


from ncodec.eval.baselines import pillow_codecs, avif, jxl, hevc, vtm  # noqa: E402,F401  (register)
