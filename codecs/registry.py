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
    """Every declared codec: name -> (modality, defining module), without importing any codec."""
    return {name: (modality, module) for modality, modules in _FAMILIES.items()
            for module, names in modules.items() for name in names}


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
