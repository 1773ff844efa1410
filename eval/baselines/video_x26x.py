"""Video baselines: x264 and x265 through ffmpeg, low-delay P (no B-frames), a fixed intra period,
preset veryslow, tune psnr, CRF sweep.

They code a clip (T, H, W, 3) uint8 RGB: ffmpeg converts it to Y'CbCr 4:2:0 (its default
BT.601 limited-range matrix), encodes to a raw Annex-B stream (the file whose size is the rate,
no container), and decodes back to RGB with the same conversion, so PSNR-RGB includes the 4:2:0
loss every consumer of these streams sees. ``encode_clip`` / ``decode_clip`` are the video
counterparts of :class:`~ncodec.eval.baselines.base.Baseline`'s encode / decode.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from ncodec.eval.baselines import register_baseline
from ncodec.eval.baselines.base import VideoBaseline, missing_programs, tool_version


class _X26x(VideoBaseline):
    setting_name, label_prefix = "CRF", "crf"
    library, suffix, fmt = "", "", ""
    preset, tune = "veryslow", "psnr"

    def available(self) -> str | None:
        if missing_programs("ffmpeg"):
            return "ffmpeg not found: apt-get install ffmpeg"
        r = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True)
        return None if self.library in r.stdout else f"this ffmpeg has no {self.library}"

    def version(self) -> str:
        return tool_version(["ffmpeg", "-version"]).split(" Copyright")[0]

    def settings(self) -> list[float]:
        return [41.0, 37.0, 33.0, 29.0, 25.0]

    def codec_args(self, crf: float) -> list[str]:
        raise NotImplementedError

    def _args(self, crf: float, w: int, h: int, src: str, dst: str) -> list[str]:
        return (["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                 "-r", f"{self.fps:g}", "-i", src, "-pix_fmt", "yuv420p"] + self.codec_args(crf)
                + ["-f", self.fmt, dst])

    def command(self, setting: float) -> str:
        return " ".join(self._args(setting, 0, 0, "in.rgb", f"out{self.suffix}")).replace("0x0", "WxH")

    def encode_clip(self, frames: np.ndarray, setting: float, tmpdir: Path) -> Path:
        t, h, w = frames.shape[:3]
        src, dst = Path(tmpdir) / "in.rgb", Path(tmpdir) / f"{self.label(setting)}_{w}x{h}{self.suffix}"
        src.write_bytes(np.ascontiguousarray(frames).tobytes())
        subprocess.run(self._args(setting, w, h, str(src), str(dst)), check=True, capture_output=True)
        src.unlink()
        return dst

    def decode_clip(self, path: Path) -> np.ndarray:
        w, h = (int(v) for v in Path(path).stem.split("_")[-1].split("x"))
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                             check=True, capture_output=True).stdout
        return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)

    def frame_bits(self, path: Path) -> list[int]:
        """Bits of each coded frame (ffprobe's packet sizes of the raw stream)."""
        sizes = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "packet=size", "-of", "csv=p=0", str(path)],
                               capture_output=True, text=True, check=True).stdout.split()
        return [8 * int(s) for s in sizes]


@register_baseline
class X264LowDelay(_X26x):
    name = "x264-ld"
    description = "H.264 (ffmpeg/libx264), low-delay P (no B-frames), intra period 32, veryslow, tune psnr, CRF"
    library, suffix, fmt = "libx264", ".264", "h264"

    def codec_args(self, crf: float) -> list[str]:
        return ["-c:v", "libx264", "-preset", self.preset, "-tune", self.tune, "-crf", f"{crf:g}", "-bf", "0",
                "-g", str(self.intra_period), "-keyint_min", str(self.intra_period), "-sc_threshold", "0"]


@register_baseline
class X265LowDelay(_X26x):
    name = "x265-ld"
    description = "HEVC (ffmpeg/libx265), low-delay P (no B-frames), intra period 32, veryslow, tune psnr, CRF"
    library, suffix, fmt = "libx265", ".hevc", "hevc"

    def codec_args(self, crf: float) -> list[str]:
        p = self.intra_period
        return ["-c:v", "libx265", "-preset", self.preset, "-tune", self.tune, "-crf", f"{crf:g}",
                "-x265-params", f"bframes=0:keyint={p}:min-keyint={p}:scenecut=0:info=0:log-level=error"]
