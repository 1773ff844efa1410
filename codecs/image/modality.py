"""The image modality: image files <-> ncodec containers, with the stated behaviour for every
pixel layout, the rate options (``--quality``, ``--target-bpp``, ``--target-psnr``) and the report.

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
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ncodec import timing
from ncodec.codecs.modality import Encoded, Example, Metric, Modality, Option
from ncodec.codecs.registry import register_modality
from ncodec.distortion import ms_ssim, psnr
from ncodec.entropy import limits
from ncodec.entropy.container import Container
from ncodec.errors import FormatError, InputError
from ncodec.media import image as image_io
from ncodec.media.image import Picture

if TYPE_CHECKING:
    import torch

# The container payload: the codec's own part (its payload: height, width) + the image's part.
_SHAPE = struct.Struct("<II")  # height, width: every image codec's payload
_LAYOUT = struct.Struct("<BB")  # bit depth, channels: the modality's part
_PAYLOAD = struct.Struct("<IIBB")


def shape_payload(height: int, width: int) -> bytes:
    """An image codec's payload: the picture size its decoder needs."""
    return _SHAPE.pack(height, width)


def image_shape(payload: bytes) -> tuple[int, int]:
    """(height, width) from an image codec's payload."""
    if len(payload) != _SHAPE.size:
        raise FormatError("image codec payload has the wrong size")
    return _SHAPE.unpack(payload)


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
    out = codec.compress(to_tensor(picture, device), quality=quality)
    sections = list(out["strings"])
    if picture.channels == 4:
        sections.append(_code_alpha(picture.pixels[..., 3]))
    payload = out["payload"] + _LAYOUT.pack(picture.bit_depth, picture.channels)
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
        x_hat = codec.decompress(container.sections[:2], container.payload[:_SHAPE.size],
                                 quality=container.quality)["x_hat"]
    except FormatError:
        raise
    except (ValueError, RuntimeError, OverflowError) as e:
        raise FormatError(f"latent stream cannot be decoded ({type(e).__name__})") from None
    pixels = to_pixels(x_hat, d["bit_depth"], min(d["channels"], 3))
    if d["channels"] == 4:
        alpha = _decode_alpha(container.sections[2], d["height"], d["width"], d["bit_depth"])
        pixels = np.concatenate([pixels, alpha[..., None]], axis=2)
    return Picture(pixels), x_hat


# -- the modality: rate options, search, report ----------------------------------------------------

def check_quality(codec, quality: float | None) -> float:
    lo, hi = codec.quality_range
    if quality is None:
        return float(codec.card.get("default_quality", (lo + hi) / 2))
    if not (np.isfinite(quality) and lo <= quality <= hi):
        raise InputError(f"quality must be within {lo:g}..{hi:g} for {codec.codec_name}, got {quality}")
    return float(np.float32(quality))  # the header stores f32: encode with exactly what decoding will use


def _encode_once(codec, picture: Picture, quality: float, device: str) -> dict:
    with timing.record() as t:
        start = time.perf_counter()
        container, x_hat = encode_picture(codec, picture, quality, device)
        seconds = time.perf_counter() - start
    size = len(container.pack())
    decoded = to_pixels(x_hat, picture.bit_depth, min(picture.channels, 3))
    reference = picture.pixels[..., :3] if picture.channels >= 3 else picture.pixels
    return {"container": container, "x_hat": x_hat, "quality": quality, "bytes": size,
            "bpp": size * 8 / (picture.width * picture.height),
            "psnr": psnr(reference, decoded, (1 << picture.bit_depth) - 1), "seconds": seconds,
            "entropy_seconds": t.get("entropy", 0.0)}


def _search_quality(codec, picture: Picture, device: str, target_bpp: float | None, target_psnr: float | None,
                    steps: int = 8, close: float = 0.005, interpolate: bool = True) -> dict:
    """Search of the continuous quality on real encodings (file bytes, decoded PSNR): the highest
    quality whose file is within ``target_bpp``, or the lowest whose PSNR reaches ``target_psnr``.
    Rate and PSNR grow with quality; if no quality meets the target, the closest end of the range
    is used and the report says so (``target_met``).

    Between the two ends it interpolates (log bpp and PSNR are nearly linear in the quality, whose
    step halves every 2 units; Illinois' regula falsi, kept at least a tenth of the bracket inside
    it): it stops once the best encoding is within ``close`` (0.5%) of the target rate or 0.02 dB
    of the target PSNR, or after ``steps`` encodings, when the bracket is at most as wide as
    ``steps`` halvings would leave it. Typically 3-4 encodings where bisection took 8
    (``interpolate=False``: that bisection, for comparison: ``tools/lwc_lab/search.py``)."""
    lo, hi = (float(np.float32(v)) for v in codec.quality_range)

    def gap(r: dict) -> float:
        """Signed distance to the target, increasing with quality; <= 0 meets (bpp) / >= 0 (PSNR)."""
        return float(np.log(r["bpp"] / target_bpp)) if target_bpp is not None else r["psnr"] - target_psnr

    def meets(r: dict) -> bool:
        return r["bpp"] <= target_bpp if target_bpp is not None else r["psnr"] >= target_psnr

    def done(r: dict) -> bool:
        if not interpolate:
            return False
        return -gap(r) <= close if target_bpp is not None else gap(r) <= 0.02

    # bpp: keep the best (highest q) that meets; PSNR: keep the lowest q that meets.
    low_end, high_end = _encode_once(codec, picture, lo, device), _encode_once(codec, picture, hi, device)
    if target_bpp is not None:
        if meets(high_end):
            return high_end | {"target_met": True}
        if not meets(low_end):
            return low_end | {"target_met": False}
        best = low_end
    else:
        if meets(low_end):
            return low_end | {"target_met": True}
        if not meets(high_end):
            return high_end | {"target_met": False}
        best = high_end
    (a, fa), (b, fb) = (lo, gap(low_end)), (hi, gap(high_end))
    side = 0  # which end the last step kept (Illinois: halve a twice-kept end's value)
    for _ in range(steps):
        if done(best) or b - a <= (hi - lo) / 2**steps:
            break
        t = float(np.clip(fa / (fa - fb) if fa != fb else 0.5, 0.1, 0.9)) if interpolate else 0.5
        mid = float(np.float32(a + t * (b - a)))
        if not a < mid < b:
            break
        r = _encode_once(codec, picture, mid, device)
        f = gap(r)
        if meets(r):  # (the highest meeting rate so far / the lowest reaching the PSNR: mid is inside the bracket)
            best = r
        if meets(r) == (target_bpp is not None):  # the new low end
            a, fa = mid, f
            fb, side = (fb / 2 if side == -1 else fb), -1
        else:
            b, fb = mid, f
            fa, side = (fa / 2 if side == 1 else fa), 1
    return best | {"target_met": True}


class ImageModality(Modality):
    """Still images: PNG, JPEG, PPM/PGM, BMP, TIFF, WebP; 8/16-bit, gray, RGB, RGBA."""

    name, code, noun = "image", 1, "an image"
    suffixes = image_io.SUFFIXES
    default_codec = "lwc-dpft2"
    rate_key, count_key, rate_parameter = "bpp", "pixels", "quality"
    codecs = {
        "ncodec.codecs.image.hyperprior": ("hyperprior", "gdn-context"),
        "ncodec.codecs.image.ssm": ("ssm",),
        "ncodec.codecs.image.swin": ("swin",),
        "ncodec.codecs.image.wavelet": ("wavelet",),
        "ncodec.codecs.image.wavelet_ctx": ("lwc",),
        "ncodec.codecs.image.from_compressai.codec": ("compressai",),
    }
    options = (
        Option(("--quality",), {"type": float, "help": "continuous quality in the model's range"}),
        Option(("--target-bpp",), {"type": float, "help": "search the quality: largest file <= B bpp"}),
        Option(("--target-psnr",), {"type": float, "help": "search the quality: smallest with PSNR >= P dB"}),
    )

    def read(self, path: Path, **options) -> Picture:
        return image_io.read_image(path)

    def check_options(self, stage: str, options: dict) -> dict:
        given = super().check_options(stage, options)
        if sum(k in given for k in ("quality", "target_bpp", "target_psnr")) > 1:
            raise InputError("give only one of --quality, --target-bpp, --target-psnr")
        for name, key in (("target bpp", "target_bpp"), ("target PSNR", "target_psnr")):
            value = given.get(key)
            if value is not None and not (np.isfinite(value) and value > 0):
                raise InputError(f"{name} must be a positive number, got {value}")
        return given

    def encode(self, codec, sample: Picture, device: str, quality: float | None = None,
               target_bpp: float | None = None, target_psnr: float | None = None) -> Encoded:
        if target_bpp is None and target_psnr is None:
            r = _encode_once(codec, sample, check_quality(codec, quality), device)
        else:
            r = _search_quality(codec, sample, device, target_bpp, target_psnr)
            r["target"] = f"{target_bpp} bpp" if target_bpp is not None else f"{target_psnr} dB"
        container, x_hat = r.pop("container"), r.pop("x_hat")
        del r["bytes"], r["bpp"]  # the API measures the file it writes
        return Encoded(container, x_hat, {**r, "width": sample.width, "height": sample.height})

    def describe(self, container: Container) -> dict:
        return describe(container)

    def check_writable(self, path: Path, description: dict, **options) -> None:
        image_io.check_writable(path, description["bit_depth"], description["channels"])

    def decode(self, codec, container: Container, device: str, **options):
        return decode_container(codec, container)

    def write(self, tmp: Path, sample: Picture, target: Path, **options) -> None:
        image_io.write_image(tmp, sample)

    def examples(self, folder: Path) -> list[Example]:
        """A textured 56x40 RGB PNG and a 32x24 RGBA one (alpha coded losslessly)."""
        from PIL import Image

        rng = np.random.default_rng(1234)
        yy, xx = np.mgrid[0:40, 0:56]
        rgb = np.stack([(xx * 4) % 256, (yy * 6) % 256, (xx + yy) * 2 % 256], axis=2).astype(np.uint8)
        rgb = np.clip(rgb.astype(int) + rng.integers(-8, 9, rgb.shape), 0, 255).astype(np.uint8)
        Image.fromarray(rgb).save(Path(folder) / "rgb.png")
        alpha = ((xx[:24, :32] * 8) % 256).astype(np.uint8)[..., None]
        Image.fromarray(np.concatenate([rgb[:24, :32], alpha], axis=2)).save(Path(folder) / "rgba.png")
        return [Example(Path(folder) / name, {}, None, ".png") for name in ("rgb.png", "rgba.png")]

    def summary(self, r: dict) -> str:
        net = r["seconds"] - r["entropy_seconds"]
        line = (f"{r['output']}: {r['bytes']} bytes, {r['bpp']:.4f} bpp, PSNR {r['psnr']:.2f} dB "
                f"({r['codec']} q={r['quality']:g}, {r['width']}x{r['height']}, {r['seconds']:.2f} s: "
                f"network {net:.2f} s, entropy coding {r['entropy_seconds']:.3f} s)")
        if "target_met" in r:
            line += f"; target {r['target']} {'met' if r['target_met'] else 'NOT reachable, closest quality used'}"
        return line


    # -- evaluation (``ncodec eval``): RGB 8-bit, PSNR and MS-SSIM --------------------------------
    eval_unit = "image"
    eval_metrics = (Metric("psnr", "psnr-rgb", "PSNR-RGB (dB)"),
                    Metric("ms-ssim", "ms-ssim-rgb", "MS-SSIM-RGB (dB, -10 log10(1 - MS-SSIM))", db=True))
    eval_rate_label = "bits per pixel (whole files)"

    def eval_read(self, path: Path) -> np.ndarray:
        """(H, W, 3) uint8: gray is replicated, alpha dropped; 16-bit is refused (InputError)."""
        picture = image_io.read_image(path)
        if picture.bit_depth != 8:
            raise InputError("16-bit image (the evaluation is on 8-bit RGB)")
        p = picture.pixels
        return np.ascontiguousarray(np.repeat(p, 3, axis=2) if p.shape[2] == 1 else p[..., :3])

    def eval_count(self, original: np.ndarray) -> int:
        return int(original.shape[0] * original.shape[1])

    def eval_encode(self, codec, original: np.ndarray, setting: float, device: str) -> Encoded:
        container, x_hat = encode_picture(codec, Picture(np.ascontiguousarray(original)), float(np.float32(setting)),
                                          device)
        return Encoded(container, x_hat)

    def eval_decode(self, codec, container: Container, device: str) -> np.ndarray:
        return decode_container(codec, container)[0].pixels

    def eval_estimate(self, codec, original: np.ndarray, setting: float, device: str) -> dict:
        """The model's own rate estimate (sum of -log2 likelihoods): real / estimated bits shows
        what the range coder and the header cost."""
        import torch

        from ncodec.codecs.image.base import pad_to
        from ncodec.entropy.rate import bits

        x = torch.from_numpy(np.ascontiguousarray(original)).permute(2, 0, 1)[None].float().div(255).to(device)
        with torch.no_grad():
            out = codec(pad_to(x, codec.stride), float(np.float32(setting)))
        return {"bits_estimated": float(bits(out["likelihoods"]).sum())}

    def eval_measure(self, original: np.ndarray, decoded: np.ndarray, x_hat=None) -> dict:
        if decoded.shape != original.shape or decoded.dtype != np.uint8:
            raise RuntimeError(f"decoded to {decoded.shape} {decoded.dtype}, expected {original.shape} uint8")
        return {"psnr-rgb": psnr(original, decoded, 255), "ms-ssim-rgb": ms_ssim(original, decoded, 255)}

register_modality(ImageModality)
