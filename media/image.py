"""Image files in and out: 8/16-bit, gray / RGB / RGBA, by file extension.

Pillow reads and writes everything it represents exactly; 16-bit colour PNGs go through pypng
and TIFFs through tifffile, because Pillow has no 16-bit RGB mode.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import png
import tifffile
from PIL import Image, UnidentifiedImageError

from ncodec.entropy.limits import MAX_PIXELS
from ncodec.errors import InputError

SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".pnm", ".bmp", ".tif", ".tiff", ".webp")
_SIXTEEN_BIT_SUFFIXES = (".png", ".tif", ".tiff", ".pgm", ".ppm")
_ALPHA_SUFFIXES = (".png", ".tif", ".tiff", ".webp")


@dataclass
class Picture:
    """Pixels as (H, W, C) uint8 or uint16, C = 1 (gray), 3 (RGB) or 4 (RGBA)."""

    pixels: np.ndarray

    def __post_init__(self):
        p = self.pixels
        if p.ndim != 3 or p.shape[2] not in (1, 3, 4) or p.dtype not in (np.uint8, np.uint16):
            raise InputError(f"unsupported pixel layout {p.shape} {p.dtype}")
        if p.shape[0] == 0 or p.shape[1] == 0:
            raise InputError("image is empty (0 pixels)")

    @property
    def bit_depth(self) -> int:
        return 16 if self.pixels.dtype == np.uint16 else 8

    @property
    def channels(self) -> int:
        return self.pixels.shape[2]

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]


def _png_is_16bit_colour(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(26)
    return head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) == 26 and head[24] == 16 and head[25] in (2, 6)


def _from_pillow(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(im, dtype=np.uint16)[..., None]
    if mode == "I":
        arr = np.asarray(im)
        if arr.min() < 0 or arr.max() > 65535:
            raise InputError("32-bit integer images are not supported")
        return arr.astype(np.uint16)[..., None]
    if mode == "F":
        raise InputError("floating-point images are not supported")
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in im.info)
    if mode in ("1", "L"):
        return np.asarray(im.convert("L"))[..., None]
    if mode == "LA":
        return np.asarray(im.convert("RGBA"))
    return np.asarray(im.convert("RGBA" if has_alpha else "RGB"))


def _check_pixels(width: int, height: int, path: Path) -> None:
    """Refuse, from the header and before decoding, an image larger than ncodec codes (a small
    file claiming 20000 x 20000 pixels would otherwise be decompressed first)."""
    if width * height > MAX_PIXELS:
        raise InputError(f"image {path} is too large: {width}x{height} pixels (limit {MAX_PIXELS})")


def read_image(path: Path) -> Picture:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input not found: {path}")
    try:
        suffix = path.suffix.lower()
        if suffix in (".tif", ".tiff"):
            with tifffile.TiffFile(path) as tif:
                shape = tif.series[0].shape if tif.series else ()
            if len(shape) >= 2:
                _check_pixels(shape[1], shape[0], path)
            arr = tifffile.imread(path)
            if arr.ndim == 2:
                arr = arr[..., None]
            if arr.dtype not in (np.uint8, np.uint16):
                raise InputError(f"unsupported TIFF sample type {arr.dtype}")
        elif suffix == ".png" and _png_is_16bit_colour(path):
            width, height, rows, info = png.Reader(filename=str(path)).asDirect()
            _check_pixels(width, height, path)
            planes = info["planes"]
            arr = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(height, width, planes)
        else:
            with Image.open(path) as im:  # reads the header only: the size is checked before decoding
                _check_pixels(im.width, im.height, path)
                im.load()
                arr = _from_pillow(im)
    except InputError:
        raise
    except Image.DecompressionBombError as e:
        raise InputError(f"image {path} is too large (over {MAX_PIXELS} pixels; Pillow refused it as a "
                         f"decompression bomb: {str(e).split(',')[0]})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, png.Error, tifffile.TiffFileError) as e:
        raise InputError(f"cannot read image {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        if arr.ndim == 3 and arr.shape[2] == 2:  # gray + alpha
            arr = np.concatenate([arr[..., :1]] * 3 + [arr[..., 1:]], axis=2)
        else:
            raise InputError(f"unsupported image layout {arr.shape} in {path}")
    return Picture(np.ascontiguousarray(arr))


def check_writable(path: Path, bit_depth: int, channels: int) -> None:
    """Refuse output formats that cannot hold the pixels (never silently lossy on depth/alpha)."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"unsupported output image format {suffix!r} (use one of {', '.join(SUFFIXES)})")
    if bit_depth == 16 and suffix not in _SIXTEEN_BIT_SUFFIXES:
        raise InputError(f"{suffix} cannot hold 16-bit pixels; use .png or .tif")
    if bit_depth == 16 and channels > 1 and suffix not in (".png", ".tif", ".tiff"):
        raise InputError(f"{suffix} output of 16-bit colour is not supported; use .png or .tif")
    if channels == 4 and suffix not in _ALPHA_SUFFIXES:
        raise InputError(f"{suffix} cannot hold an alpha channel; use .png, .tif or .webp")


def write_image(path: Path, picture: Picture) -> None:
    """Write by extension (see :func:`check_writable`)."""
    path = Path(path)
    suffix = path.suffix.lower()
    check_writable(path, picture.bit_depth, picture.channels)
    arr = picture.pixels
    if suffix in (".tif", ".tiff"):
        tifffile.imwrite(path, arr[..., 0] if picture.channels == 1 else arr)
    elif picture.bit_depth == 16 and picture.channels > 1:  # 16-bit colour PNG: pypng
        h, w, c = arr.shape
        writer = png.Writer(w, h, greyscale=False, alpha=c == 4, bitdepth=16)
        with open(path, "wb") as f:
            writer.write(f, arr.reshape(h, w * c))
    else:
        data = arr[..., 0] if picture.channels == 1 else arr
        fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".pgm": "PPM", ".pnm": "PPM"}.get(suffix)
        Image.fromarray(data).save(path, format=fmt or suffix[1:].upper(), **({"quality": 95} if fmt == "JPEG" else {}))
