"""ncodec: learned neural codecs for images, video and point clouds, with real bitstreams.

    import ncodec
    ncodec.list_codecs()                       # registered codec names
    codec = ncodec.load("hyperprior")          # shipped checkpoint
    ncodec.encode_file("in.png", "out.ncd", quality=3)
    ncodec.decode_file("out.ncd", "out.png")
"""
import warnings as _warnings

# compressai imports torch.jit.script at import time, which warns on recent torch.
_warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)

from ncodec.api import decode_file, encode_file, load, read_info  # noqa: E402
from ncodec.codecs import list_codecs  # noqa: E402

__all__ = ["load", "list_codecs", "encode_file", "decode_file", "read_info"]
__version__ = "0.1.0"
