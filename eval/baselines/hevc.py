"""HEVC intra (x265 through ffmpeg), 4:4:4 8-bit, one frame, fixed QP.

The photo is converted to full-range BT.709 Y'CbCr 4:4:4 here (``eval.colour``) and fed to
ffmpeg as raw video; the raw HEVC bitstream (no container, no x265 info SEI) is the file whose
size is the rate (its name records the frame size, as for VTM: :class:`YuvTool`); its decoded raw
4:4:4 frame is converted back with the same matrix.
"""
from __future__ import annotations

from ncodec.eval.baselines import register_baseline
from ncodec.eval.baselines.base import YuvTool, missing_programs, tool_version


def _ffmpeg_has_x265() -> bool:
    import subprocess

    r = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True)
    return "libx265" in r.stdout


@register_baseline
class X265(YuvTool):
    name, description = "x265", "HEVC intra (ffmpeg/libx265, 4:4:4 8-bit, preset medium, fixed QP)"
    setting_name, label_prefix = "QP", "qp"
    encoder, decoder, suffix = "ffmpeg/libx265", "ffmpeg (HEVC decoding)", ".hevc"
    preset = "medium"

    def available(self) -> str | None:
        if missing_programs("ffmpeg"):
            return "ffmpeg not found: apt-get install ffmpeg"
        return None if _ffmpeg_has_x265() else "this ffmpeg has no libx265: apt-get install ffmpeg (Debian's has it)"

    def version(self) -> str:
        ffmpeg = tool_version(["ffmpeg", "-version"]).split(" Copyright")[0]
        x265 = tool_version(["ffmpeg", "-v", "info", "-hide_banner", "-nostdin", "-f", "lavfi", "-i", "color=black:s=64x64",
                             "-frames:v", "1", "-c:v", "libx265", "-x265-params", "log-level=info", "-f", "null", "-"],
                            lambda ln: "encoder version" in ln)
        return f"{ffmpeg}; {x265.split('x265 [info]: ')[-1]}"

    def settings(self) -> list[float]:
        return [50, 46, 42, 38, 34, 30, 26, 22, 18]

    def encode_args(self, setting: float, src, dst, width, height) -> list:
        params = f"qp={int(setting)}:keyint=1:info=0:range=full:colormatrix=bt709:pools=1:frame-threads=1:log-level=error"
        return ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv444p",
                "-s", f"{width}x{height}", "-i", src, "-frames:v", "1", "-c:v", "libx265",
                "-preset", self.preset, "-x265-params", params, "-f", "hevc", dst]

    def decode_args(self, src, dst) -> list:
        return ["ffmpeg", "-nostdin", "-v", "error", "-y", "-threads", "1", "-i", src, "-f", "rawvideo",
                "-pix_fmt", "yuv444p", dst]
