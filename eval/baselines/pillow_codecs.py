"""Baselines that Pillow's own wheels encode: JPEG (4:2:0 and 4:4:4), WebP, JPEG 2000 (OpenJPEG)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, features

from ncodec.eval.baselines import register_baseline
from ncodec.eval.baselines.base import Baseline, read_rgb8

_PIP_HINT = "pip install --upgrade pillow (a wheel built with {})"


class _PillowCodec(Baseline):
    codec_feature = ""   # Pillow feature that must be present
    suffix = ""
    format = ""

    library = ""         # the library whose version is reported (Pillow feature name)

    def available(self) -> str | None:
        return None if features.check(self.codec_feature) else _PIP_HINT.format(self.codec_feature)

    def version(self) -> str:
        import PIL

        library = self.library or self.codec_feature
        return f"Pillow {PIL.__version__}, {library} {features.version(library)}"

    def save_options(self, setting: float) -> dict:
        raise NotImplementedError

    def command(self, setting: float) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.save_options(setting).items())
        return f"PIL.Image.save(path, format={self.format!r}, {opts})"

    def encode(self, img: np.ndarray, setting: float, tmpdir: Path) -> Path:
        path = Path(tmpdir) / f"{self.name}-{self.label(setting)}{self.suffix}"
        Image.fromarray(img).save(path, format=self.format, **self.save_options(setting))
        return path

    def decode(self, path: Path) -> np.ndarray:
        return read_rgb8(path)


@register_baseline
class JPEG(_PillowCodec):
    name, description = "jpeg", "JPEG (Pillow/libjpeg-turbo, 4:2:0, default tables)"
    codec_feature, suffix, format = "jpg", ".jpg", "JPEG"
    library = "libjpeg_turbo"
    subsampling = 2  # Pillow: 0 = 4:4:4, 2 = 4:2:0

    def settings(self) -> list[float]:
        return [2, 5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90]

    def save_options(self, setting: float) -> dict:
        return {"quality": int(setting), "subsampling": self.subsampling}


@register_baseline
class JPEG444(JPEG):
    name, description = "jpeg444", "JPEG (Pillow/libjpeg-turbo, 4:4:4, default tables)"
    subsampling = 0

    def settings(self) -> list[float]:
        return [2, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90]


@register_baseline
class WebP(_PillowCodec):
    name, description = "webp", "WebP lossy (Pillow/libwebp, method 6)"
    codec_feature, suffix, format = "webp", ".webp", "WEBP"

    def settings(self) -> list[float]:
        return [0, 5, 15, 30, 50, 70, 85, 90, 95]

    def save_options(self, setting: float) -> dict:
        return {"quality": int(setting), "method": 6, "lossless": False}


@register_baseline
class JPEG2000(_PillowCodec):
    """Rate-targeted: a setting is the target bpp (OpenJPEG's compression ratio 24 / bpp)."""

    name, description = "jpeg2000", "JPEG 2000 (Pillow/OpenJPEG, 9/7 wavelet, colour transform)"
    codec_feature, suffix, format = "jpg_2000", ".j2k", "JPEG2000"
    setting_name, label_prefix = "target bpp", "b"

    def settings(self) -> list[float]:
        return [0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0]

    def save_options(self, setting: float) -> dict:
        return {"quality_mode": "rates", "quality_layers": [24 / setting], "irreversible": True, "mct": 1,
                "no_jp2": True}
