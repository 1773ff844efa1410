"""Decoder limits: every size a file's header states is checked against these *before* anything of
that size is allocated, so a small (or crafted) file cannot make the decoder use unbounded memory.

Why bounds are needed at all: a range coder can code a near-certain symbol in a tiny fraction of
a bit, so a file of a few hundred bytes can legitimately describe a gigapixel latent. The bounds
below are what a decode may ever cost; beyond them a file is refused (FormatError, exit 2) and the
encoder refuses the same inputs, so every file this ncodec writes also decodes.

Peak-memory bound (what these constants guarantee; ``tests/test_fuzz.py`` checks that hostile
files stay far below it: each refused case grows the decoder's RSS by less than 512 MB):

* image decode: sides of at most ``MAX_SIDE`` and at most ``MAX_PIXELS`` pixels *after padding* to
  the codec's stride, i.e. a synthesis over at most ``MAX_PIXELS`` positions, and at most
  ``MAX_LATENT_SYMBOLS`` range-coded symbols in any one stream (checked before decoding); the alpha
  section inflates to exactly ``H * W * bytes`` or is refused. The learned synthesis dominates:
  about ``IMAGE_BYTES_PER_PIXEL`` bytes per padded pixel, so a decode stays under
  ``IMAGE_PEAK_BYTES`` (1 GB + 450 B x 2**25 = about 16 GB for the largest image allowed; a
  1 MP image about 1.5 GB). A file that claims more is refused in milliseconds with no allocation.
* point clouds: at most ``MAX_POINTS`` points, ``MAX_RINGS`` rings / ``MAX_SEGMENTS`` segments,
  ``MAX_INFLATED_BYTES`` per deflate section.
* any deflate section: at most ``MAX_INFLATED_BYTES`` (or the exact size the header implies), checked
  while inflating (:func:`inflate`), never after.
"""
from __future__ import annotations

import zlib

from ncodec.errors import FormatError

#: Pixels of an image after padding to the codec's stride (H_pad * W_pad): 33.5 M, e.g. 8K UHD
#: (7680 x 4320, padded to 7680 x 4352) or a 24 MP photo. The encoder refuses the same images.
MAX_PIXELS = 1 << 25
#: Longest side of an image: refuses 1 x 2**28 shapes (whose padding would multiply the pixels).
MAX_SIDE = 1 << 16
#: The padding stride :func:`check_image_size` assumes when the codec is not known yet (``info``):
#: the largest of the image codecs (analysis /16 x hyperprior /4).
MAX_STRIDE = 64
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
#: Measured peak bytes per padded pixel of an image decode (hyperprior, the largest shipped model;
#: ``ncodec decode`` peak RSS: 2.76 GB for 2048 x 2048 and 1.67 GB for 1536 x 1024 against 0.99 GB
#: for 64 x 64, i.e. 421 and 425 B per pixel; lwc 141 B (0.89 GB for 1536 x 1024 against 0.67 GB),
#: wavelet 76 B; the default lwc-dpft2, whose networks run in row strips (codecs/image/tiling.py),
#: 178 B: 2.64 GiB for 3840 x 3072 against 0.68 GiB for 768 x 512, and its encoder 280 B, 3.81 GiB).
IMAGE_BYTES_PER_PIXEL = 450
#: The decode-time bound this gives for the largest image allowed, model and runtime included.
IMAGE_PEAK_BYTES = (1 << 30) + IMAGE_BYTES_PER_PIXEL * MAX_PIXELS


def check_image_size(height: int, width: int, stride: int = MAX_STRIDE, symbols_per_pixel: float = 0.0,
                     error: type[Exception] = FormatError) -> int:
    """Refuse (``error``) an image whose decode would pass the limits, before anything is allocated:
    either side over ``MAX_SIDE``, over ``MAX_PIXELS`` once padded to ``stride``, or over
    ``MAX_LATENT_SYMBOLS`` latent symbols (``symbols_per_pixel`` per padded pixel). Returns the
    padded pixel count."""
    if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE):
        raise error(f"image size {width}x{height} is outside 1..{MAX_SIDE} pixels per side")
    padded = -(-height // stride) * stride * (-(-width // stride) * stride)
    if padded > MAX_PIXELS:
        raise error(f"image of {width}x{height} pixels ({padded} once padded to a multiple of {stride}) "
                    f"is over the limit of {MAX_PIXELS} pixels")
    if padded * symbols_per_pixel > MAX_LATENT_SYMBOLS:
        raise error(f"image of {width}x{height} pixels needs {int(padded * symbols_per_pixel)} latent symbols "
                    f"(limit {MAX_LATENT_SYMBOLS})")
    return padded


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
