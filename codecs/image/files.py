"""Image files <-> ncodec containers, with the stated behaviour for every pixel layout.

* RGB 8-bit: coded by the learned codec; decoding rounds the reconstruction to 8 bits.
* Gray: the gray plane is replicated to RGB and coded; the decoder writes the mean of the three
  decoded planes as a gray image.
* RGBA: colour coded by the codec, alpha coded **losslessly** in its own section (row-wise
  left prediction, then deflate).
* 16-bit: samples are scaled to [0, 1] by 65535 and coded (lossy, as 8-bit is); the decoder
  writes 16-bit samples again. The header records bit depth and channel count.
"""
from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING

import numpy as np

from ncodec.entropy import limits
from ncodec.entropy.container import Container
from ncodec.errors import FormatError, InputError
from ncodec.media.image import Picture

if TYPE_CHECKING:
    import torch

_PAYLOAD = struct.Struct("<IIBB")  # height, width, bit depth, channels


def to_tensor(picture: Picture, device: str) -> torch.Tensor:
    import torch  # here, not at the top: `ncodec info` reads headers without loading torch

    peak = (1 << picture.bit_depth) - 1
    rgb = picture.pixels[..., :3] if picture.channels >= 3 else np.repeat(picture.pixels, 3, axis=2)
    x = torch.from_numpy(rgb.astype(np.float32) / peak).permute(2, 0, 1)[None]
    return x.to(device)


def to_pixels(x_hat: torch.Tensor, bit_depth: int, channels: int) -> np.ndarray:
    """Decoded (1, 3, H, W) in [0, 1] -> (H, W, C) integers of the recorded depth."""
    peak = (1 << bit_depth) - 1
    rgb = x_hat[0].permute(1, 2, 0).cpu().double().numpy()
    if channels == 1:
        rgb = rgb.mean(axis=2, keepdims=True)
    return np.clip(np.round(rgb * peak), 0, peak).astype(np.uint16 if bit_depth == 16 else np.uint8)


def _code_alpha(alpha: np.ndarray) -> bytes:
    modulus = 1 << (8 * alpha.dtype.itemsize)
    residual = np.diff(alpha.astype(np.int64), axis=1, prepend=0) % modulus
    return zlib.compress(residual.astype(alpha.dtype.newbyteorder("<")).tobytes(), 9)


def _decode_alpha(data: bytes, height: int, width: int, bit_depth: int) -> np.ndarray:
    dtype = np.dtype("<u2") if bit_depth == 16 else np.dtype("u1")
    raw = limits.inflate(data, height * width * dtype.itemsize)  # never more than the header implies
    if len(raw) != height * width * dtype.itemsize:
        raise FormatError("alpha section has the wrong size")
    residual = np.frombuffer(raw, dtype=dtype).reshape(height, width).astype(np.int64)
    return (np.cumsum(residual, axis=1) % (1 << bit_depth)).astype(dtype.newbyteorder("="))


def _check_size(codec, height: int, width: int, error: type[Exception]) -> None:
    """The codec's own size check (padding stride, latent symbols), else the generic one."""
    check = getattr(codec, "check_size", None)
    if check is not None:
        check(height, width, error)
    else:
        limits.check_image_size(height, width, getattr(codec, "stride", limits.MAX_STRIDE), error=error)


def encode_picture(codec, picture: Picture, quality: float, device: str) -> tuple[Container, torch.Tensor]:
    """Returns the container and the encoder's reconstruction (1, 3, H, W)."""
    _check_size(codec, picture.height, picture.width, InputError)  # what the decoder would refuse
    out = codec.compress(to_tensor(picture, device), quality)
    sections = list(out["strings"])
    if picture.channels == 4:
        sections.append(_code_alpha(picture.pixels[..., 3]))
    payload = _PAYLOAD.pack(picture.height, picture.width, picture.bit_depth, picture.channels)
    container = Container("image", codec.codec_name, codec.model_id, float(quality), payload, sections)
    return container, out["x_hat"]


def describe(container: Container) -> dict:
    """Header fields of an image container (validated)."""
    if len(container.payload) != _PAYLOAD.size:
        raise FormatError("image description has the wrong size")
    h, w, bits, channels = _PAYLOAD.unpack(container.payload)
    if bits not in limits.BIT_DEPTHS or channels not in limits.CHANNELS:
        raise FormatError(f"image description is invalid ({bits}-bit, {channels} channels)")
    limits.check_image_size(h, w)  # sides, and pixels once padded to the largest codec stride
    return {"height": h, "width": w, "bit_depth": bits, "channels": channels, "pixels": h * w}


def decode_container(codec, container: Container) -> tuple[Picture, torch.Tensor]:
    d = describe(container)
    n_coded = 2 + (d["channels"] == 4)
    if len(container.sections) != n_coded:
        raise FormatError(f"expected {n_coded} sections, found {len(container.sections)}")
    _check_size(codec, d["height"], d["width"], FormatError)  # this codec's padding and latent symbols
    lo, hi = codec.quality_range
    if not lo <= container.quality <= hi:
        raise FormatError(f"quality {container.quality} outside the model's range {lo}..{hi}")
    try:
        x_hat = codec.decompress(container.sections[:2], (d["height"], d["width"]), container.quality)["x_hat"]
    except FormatError:
        raise
    except (ValueError, RuntimeError, OverflowError) as e:
        raise FormatError(f"latent stream cannot be decoded ({type(e).__name__})") from None
    pixels = to_pixels(x_hat, d["bit_depth"], min(d["channels"], 3))
    if d["channels"] == 4:
        alpha = _decode_alpha(container.sections[2], d["height"], d["width"], d["bit_depth"])
        pixels = np.concatenate([pixels, alpha[..., None]], axis=2)
    return Picture(pixels), x_hat
