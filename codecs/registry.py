"""Codec and modality registry: found by registered name, never by a list position.

A modality lives in its own folder ``codecs/<folder>/`` whose ``modality.py`` registers a
:class:`~ncodec.codecs.modality.Modality` (light to import: no torch) that declares its codecs
(``Modality.codecs``: defining module -> codec names). Nothing here names a modality: folders are
discovered, so a new modality touches only its own folder, its config and its tests. A modality or
codec added at run time (a plug-in, a test) registers itself the same way.

Declared codec names let ``ncodec list`` and lookups work without importing any codec, and
``get_codec(name)`` import only the one module it needs (compressai's import alone takes seconds).
A test checks that every module registers exactly the names its modality declares for it.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ncodec.errors import InputError

_MODALITIES: dict = {}  # name -> registered Modality object
_DISCOVERED = False


@dataclass(frozen=True)
class CodecEntry:
    name: str
    modality: str
    factory: Callable
    description: str


_REGISTRY: dict[str, CodecEntry] = {}


def _discover() -> None:
    """Import every built-in modality (``codecs/*/modality.py``) once."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    for folder in sorted(Path(__file__).resolve().parent.iterdir()):
        if (folder / "modality.py").is_file():
            importlib.import_module(f"ncodec.codecs.{folder.name}.modality")


def declared() -> dict[str, tuple[str, str]]:
    """Every declared codec: name -> (modality, defining module), without importing any codec;
    codecs registered at run time (plug-ins) are included with their class's module."""
    _discover()
    names = {name: (m.name, module) for m in _MODALITIES.values()
             for module, codec_names in m.codecs.items() for name in codec_names}
    for name, entry in _REGISTRY.items():
        names.setdefault(name, (entry.modality, entry.factory.__module__))
    return names


def load_family(modality: str) -> None:
    """Import (and so register) every codec of one modality."""
    for module in get_modality(modality).codecs:
        _import(module)


def _import(module: str) -> None:
    import warnings

    with warnings.catch_warnings():  # compressai's import-time torch.jit.script deprecation: not for users
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
        importlib.import_module(module)


def modality_codes() -> dict[str, int]:
    """Every registered modality's container code, by name."""
    _discover()
    return {name: m.code for name, m in _MODALITIES.items()}


def modality_names() -> list[str]:
    return list(modality_codes())


def register_modality(modality) -> object:
    """Register a :class:`~ncodec.codecs.modality.Modality` (an instance, or a class: instantiated).
    Its name and its container ``code`` (1..255) must be free."""
    obj = modality() if isinstance(modality, type) else modality
    if obj.name in _MODALITIES:
        raise ValueError(f"modality {obj.name!r} is already registered")
    taken = {m.code: n for n, m in _MODALITIES.items()}
    if not 0 < obj.code < 256 or obj.code in taken:
        raise ValueError(f"modality {obj.name!r}: code {obj.code} is invalid or taken by {taken.get(obj.code)!r}")
    _MODALITIES[obj.name] = obj
    return modality


def unregister_modality(name: str) -> None:
    """Remove a modality registered at run time (tests, plug-ins), with its codecs."""
    _MODALITIES.pop(name, None)
    for codec in [n for n, e in _REGISTRY.items() if e.modality == name]:
        del _REGISTRY[codec]


def get_modality(name: str):
    """The registered modality ``name``."""
    _discover()
    try:
        return _MODALITIES[name]
    except KeyError:
        raise InputError(f"this ncodec cannot handle {name} data (modalities: {', '.join(_MODALITIES)})") from None


def all_modalities() -> list:
    """Every registered modality object (built-in ones are discovered; their modules are light)."""
    _discover()
    return list(_MODALITIES.values())


def register_codec(name: str, modality: str, description: str = ""):
    """Class decorator: ``@register_codec("hyperprior", "image")``."""
    if modality not in _MODALITIES:
        _discover()
    if modality not in _MODALITIES:
        raise ValueError(f"unknown modality {modality!r}")

    def wrap(cls):
        if name in _REGISTRY:
            raise ValueError(f"codec {name!r} is already registered")
        _REGISTRY[name] = CodecEntry(name, modality, cls, description or (cls.__doc__ or "").strip().split("\n")[0])
        cls.codec_name, cls.modality = name, modality
        return cls

    return wrap


def get_codec(name: str) -> CodecEntry:
    if name not in _REGISTRY and name in declared():
        _import(declared()[name][1])
    try:
        return _REGISTRY[name]
    except KeyError:
        valid = ", ".join(sorted(declared())) or "none"
        raise InputError(f"unknown codec {name!r} (valid: {valid})") from None


def modality_of_codec(name: str) -> str:
    """The modality a codec codes, from its declaration (imports nothing)."""
    if name not in declared():
        raise InputError(f"unknown codec {name!r} (valid: {', '.join(sorted(declared()))})")
    return declared()[name][0]


def list_codecs(modality: str | None = None) -> list[str]:
    """Declared codec names (of one modality), without importing them."""
    return sorted(n for n, (m, _) in declared().items() if modality in (None, m))
