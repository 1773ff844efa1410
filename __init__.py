"""ncodec: learned neural codecs for images, video and point clouds, with real bitstreams.

    import ncodec
    ncodec.list_codecs()                       # registered codec names
    codec = ncodec.load("hyperprior")          # shipped checkpoint
    ncodec.encode_file("in.png", "out.ncd", quality=3)
    ncodec.decode_file("out.ncd", "out.png")

The public functions are resolved on first use (PEP 562), so ``import ncodec`` and light commands
(``ncodec --help``, ``info``, ``list``) do not pay for importing torch.
"""
from __future__ import annotations

import importlib

__all__ = ["load", "list_codecs", "encode_file", "decode_file", "read_info"]
__version__ = "0.1.0"

_HOME = {"load": "ncodec.api", "encode_file": "ncodec.api", "decode_file": "ncodec.api",
         "read_info": "ncodec.api", "list_codecs": "ncodec.codecs"}


def __getattr__(name: str):
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ncodec' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
