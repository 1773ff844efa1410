"""HEVC intra (x265 through ffmpeg), 4:4:4 8-bit, one frame, fixed QP.

The photo is converted to full-range BT.709 Y'CbCr 4:4:4 here (``eval.colour``) and fed to
ffmpeg as raw video; the raw HEVC bitstream (no container, no x265 info SEI) is the file whose
size is the rate; its decoded raw 4:4:4 frame is converted back with the same matrix.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ncodec.eval.baselines import register_baseline
from ncodec.eval.baselines.base import Baseline, missing_programs, run_tool, tool_version
from ncodec.eval.colour import read_yuv444, write_yuv444


def _ffmpeg_has_x265() -> bool:
    import subprocess

    r = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True)
    return "libx265" in r.stdout


@register_baseline
class X265(Baseline):
    name, description = "x265", "HEVC intra (ffmpeg/libx265, 4:4:4 8-bit, preset medium, fixed QP)"
    setting_name, label_prefix = "QP", "qp"
    preset = "medium"

    def available(self) -> str | None:
        if missing_programs("ffmpeg", "ffprobe"):
            return "ffmpeg/ffprobe not found: apt-get install ffmpeg"
        return None if _ffmpeg_has_x265() else "this ffmpeg has no libx265: apt-get install ffmpeg (Debian's has it)"

    def version(self) -> str:
        ffmpeg = tool_version(["ffmpeg", "-version"]).split(" Copyright")[0]
        x265 = tool_version(["ffmpeg", "-v", "info", "-hide_banner", "-nostdin", "-f", "lavfi", "-i", "color=black:s=64x64",
                             "-frames:v", "1", "-c:v", "libx265", "-x265-params", "log-level=info", "-f", "null", "-"],
                            lambda ln: "encoder version" in ln)
        return f"{ffmpeg}; {x265.split('x265 [info]: ')[-1]}"

    def settings(self) -> list[float]:
        return [50, 46, 42, 38, 34, 30, 26, 22, 18]

    def _args(self, setting: float, src, dst, width: int, height: int) -> list:
        params = f"qp={int(setting)}:keyint=1:info=0:range=full:colormatrix=bt709:pools=1:frame-threads=1:log-level=error"
        return ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv444p",
                "-s", f"{width}x{height}", "-i", src, "-frames:v", "1", "-c:v", "libx265",
                "-preset", self.preset, "-x265-params", params, "-f", "hevc", dst]

    def command(self, setting: float) -> str:
        return " ".join(map(str, self._args(setting, "in.yuv", "out.hevc", "W", "H")))

    def encode(self, img: np.ndarray, setting: float, tmpdir: Path) -> Path:
        height, width = img.shape[:2]
        src = Path(tmpdir) / "in.yuv"
        write_yuv444(src, img)
        dst = Path(tmpdir) / f"x265-{self.label(setting)}.hevc"
        run_tool(self._args(setting, src, dst, width, height), "ffmpeg/libx265")
        return dst

    def decode(self, path: Path) -> np.ndarray:
        size = run_tool(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                         "-of", "csv=p=0", path], "ffprobe").strip()
        width, height = map(int, size.split(","))
        out = path.with_suffix(".decoded.yuv")
        run_tool(["ffmpeg", "-nostdin", "-v", "error", "-y", "-threads", "1", "-i", path, "-f", "rawvideo",
                  "-pix_fmt", "yuv444p", out], "ffmpeg (HEVC decoding)")
        return read_yuv444(out, height, width)
