"""Codec registry: codecs are found by their registered name, never by a list position."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ncodec.errors import InputError

# Declared modalities: name -> (container code, the module that registers it). Declaring them lets
# the container and ``ncodec info`` name a file's modality without importing anything; each module
# registers its :class:`~ncodec.codecs.modality.Modality` when imported. A modality added at run
# time (a plug-in, a test) calls :func:`register_modality` and is then just as usable.
_DECLARED_MODALITIES: dict[str, tuple[int, str]] = {
    "image": (1, "ncodec.codecs.image.modality"),
    "pointcloud": (3, "ncodec.codecs.pointcloud.modality"),
}  # code 2 is kept for video
_MODALITIES: dict = {}  # name -> registered Modality object
_EXTRA_CODES: dict[str, int] = {}  # codes of modalities registered at run time


@dataclass(frozen=True)
class CodecEntry:
    name: str
    modality: str
    factory: Callable
    description: str


_REGISTRY: dict[str, CodecEntry] = {}

# Where each codec is defined, by modality: module -> the codec names it registers. Declaring the
# names lets ``ncodec list`` and lookups work without importing anything, and ``get_codec(name)``
# import only the one module it needs (compressai's import alone takes seconds). A test checks that
# every module registers exactly the names declared for it.
_FAMILIES: dict[str, dict[str, tuple[str, ...]]] = {
    "pointcloud": {"ncodec.codecs.pointcloud.lidar": ("lidar",), "ncodec.codecs.pointcloud.octree": ("octree",)},
    "image": {
        "ncodec.codecs.image.hyperprior": ("hyperprior", "gdn-context"),
        "ncodec.codecs.image.ssm": ("ssm",),
        "ncodec.codecs.image.swin": ("swin",),
        "ncodec.codecs.image.wavelet": ("wavelet",),
        "ncodec.codecs.image.wavelet_ctx": ("lwc",),
        "ncodec.codecs.image.from_compressai.codec": ("compressai",),
    },
}


def declared() -> dict[str, tuple[str, str]]:
    """Every declared codec: name -> (modality, defining module), without importing any codec;
    codecs registered at run time (plug-ins) are included with their class's module."""
    names = {name: (modality, module) for modality, modules in _FAMILIES.items()
             for module, names in modules.items() for name in names}
    for name, entry in _REGISTRY.items():
        names.setdefault(name, (entry.modality, entry.factory.__module__))
    return names


def load_family(modality: str) -> None:
    """Import (and so register) every codec of one modality."""
    for module in _FAMILIES.get(modality, {}):
        _import(module)


def _import(module: str) -> None:
    import importlib
    import warnings

    with warnings.catch_warnings():  # compressai's import-time torch.jit.script deprecation: not for users
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
        importlib.import_module(module)


def modality_codes() -> dict[str, int]:
    """Every known modality's container code, by name (imports nothing)."""
    return {**{n: code for n, (code, _) in _DECLARED_MODALITIES.items()}, **_EXTRA_CODES}


def modality_names() -> list[str]:
    return list(modality_codes())


def register_modality(modality) -> object:
    """Register a :class:`~ncodec.codecs.modality.Modality` instance (or class: it is instantiated).
    Its ``code`` must be free unless it is the declared one of that name."""
    obj = modality() if isinstance(modality, type) else modality
    declared_code = _DECLARED_MODALITIES.get(obj.name, (None, None))[0]
    if obj.name in _MODALITIES:
        raise ValueError(f"modality {obj.name!r} is already registered")
    taken = {c: n for n, c in modality_codes().items() if n != obj.name}
    if not 0 < obj.code < 256 or obj.code in taken or declared_code not in (None, obj.code):
        raise ValueError(f"modality {obj.name!r}: code {obj.code} is taken or invalid")
    _MODALITIES[obj.name] = obj
    if obj.name not in _DECLARED_MODALITIES:
        _EXTRA_CODES[obj.name] = obj.code
    return modality


def unregister_modality(name: str) -> None:
    """Remove a modality registered at run time (tests), with its codecs."""
    if name in _DECLARED_MODALITIES:
        raise ValueError(f"modality {name!r} is built in")
    _MODALITIES.pop(name, None)
    _EXTRA_CODES.pop(name, None)
    for codec in [n for n, e in _REGISTRY.items() if e.modality == name]:
        del _REGISTRY[codec]


def get_modality(name: str):
    """The registered modality ``name`` (importing its module on first use)."""
    if name not in _MODALITIES and name in _DECLARED_MODALITIES:
        import importlib

        importlib.import_module(_DECLARED_MODALITIES[name][1])
    try:
        return _MODALITIES[name]
    except KeyError:
        raise InputError(f"this ncodec cannot handle {name} data (modalities: {', '.join(available_modalities())})") from None


def all_modalities() -> list:
    """Every usable modality object (declared ones are imported; their modules are light)."""
    for name in _DECLARED_MODALITIES:
        get_modality(name)
    return list(_MODALITIES.values())


def available_modalities() -> list[str]:
    return list(_MODALITIES)


def register_codec(name: str, modality: str, description: str = ""):
    """Class decorator: ``@register_codec("hyperprior", "image")``."""
    if modality not in modality_codes():
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
