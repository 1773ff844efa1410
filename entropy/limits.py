"""Decoder limits: every size a file's header states is checked against these *before* anything of
that size is allocated, so a small (or crafted) file cannot make the decoder use unbounded memory.

Why bounds are needed at all: a range coder can code a near-certain symbol in a tiny fraction of
a bit, so a file of a few hundred bytes can legitimately describe a gigapixel latent. The bounds
below are what a decode may ever cost; beyond them a file is refused (FormatError, exit 2) and the
encoder refuses the same inputs, so every file this ncodec writes also decodes.

Peak-memory bound (what these constants guarantee; measured in ``tests/test_fuzz.py``):

* image decode: at most ``MAX_PIXELS`` pixels *after padding* to the codec's stride, i.e. a
  synthesis over at most ``MAX_PIXELS`` positions, and at most ``MAX_LATENT_SYMBOLS`` range-coded
  symbols in any one stream; the alpha section inflates to exactly ``H * W * bytes`` or is refused.
  The learned synthesis dominates: about ``IMAGE_BYTES_PER_PIXEL`` bytes per padded pixel, so a
  decode stays under ``MAX_PIXELS * IMAGE_BYTES_PER_PIXEL`` plus the model (< 0.5 GB).
* point clouds: at most ``MAX_POINTS`` points, ``MAX_RINGS`` rings / ``MAX_SEGMENTS`` segments,
  ``MAX_INFLATED_BYTES`` per deflate section.
* any deflate section: at most ``MAX_INFLATED_BYTES`` (or the exact size the header implies), checked
  while inflating (:func:`inflate`), never after.
"""
from __future__ import annotations

import zlib

from ncodec.errors import FormatError

#: Pixels of an image after padding to the codec's stride (H_pad * W_pad): 8192 x 8192.
MAX_PIXELS = 1 << 26
#: Longest side of an image (after padding): refuses 1 x 2**28 shapes whose padding explodes.
MAX_SIDE = 1 << 16
#: Bit depths and channel counts an image header may state.
BIT_DEPTHS = (8, 16)
CHANNELS = (1, 3, 4)
#: Range-coded symbols in one stream (latent, side latent, point residuals): 64 Mi.
MAX_LATENT_SYMBOLS = 1 << 26
#: Points in a decoded point cloud (the reader's limit too, media/pointcloud.py).
MAX_POINTS = 1 << 26
#: Rings (laser channels) and ring segments a LiDAR header may state.
MAX_RINGS = 1 << 16
MAX_SEGMENTS = 1 << 22
#: Bytes one deflate section may inflate to (256 MiB), unless the header implies a smaller exact size.
MAX_INFLATED_BYTES = 1 << 28
#: Sections in one container (every codec uses a handful).
MAX_SECTIONS = 64
#: Measured peak bytes per padded pixel of an image decode (largest shipped model), for the bound.
IMAGE_BYTES_PER_PIXEL = 2400


def inflate(data: bytes, max_bytes: int) -> bytes:
    """zlib-inflate ``data`` producing at most ``max_bytes``; a stream that would produce more, is
    incomplete, is corrupt or has trailing bytes raises :class:`FormatError`. The limit holds while
    inflating: a deflate bomb is stopped after ``max_bytes + 1`` bytes of output."""
    if max_bytes < 0:
        raise FormatError("deflate section has a negative size limit")
    d = zlib.decompressobj()
    try:
        out = d.decompress(bytes(data), max_bytes + 1)  # max_length 0 would mean "no limit"
    except zlib.error:
        raise FormatError("deflate section is corrupted") from None
    if len(out) > max_bytes:
        raise FormatError(f"deflate section inflates beyond its limit ({max_bytes} bytes)")
    if not d.eof:
        raise FormatError("deflate section is truncated")
    if d.unused_data:
        raise FormatError("deflate section has trailing bytes")
    return out
