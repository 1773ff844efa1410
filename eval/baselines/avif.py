"""AVIF through libavif's command-line tools (avifenc / avifdec, Debian package libavif-bin)."""
from __future__ import annotations

from ncodec.eval.baselines import register_baseline
from ncodec.eval.baselines.base import PngTool, tool_version


@register_baseline
class AVIF(PngTool):
    """A setting is the AV1 quantizer (0..63, lower is better), used as both --min and --max."""

    name, description = "avif", "AVIF (libavif avifenc, AV1 4:4:4, speed 6, fixed quantizer)"
    setting_name, label_prefix = "quantizer", "q"
    encoder, decoder, package, suffix = "avifenc", "avifdec", "libavif-bin", ".avif"
    speed = 6

    def version(self) -> str:
        return "avifenc " + tool_version(["avifenc", "--version"], lambda ln: ln.startswith("Version")).replace("Version: ", "")

    def settings(self) -> list[float]:
        return [62, 56, 50, 44, 38, 32, 26, 20, 14, 8]

    def encode_args(self, setting: float, src, dst) -> list:
        q = int(setting)
        return ["avifenc", "--jobs", "1", "--speed", self.speed, "--yuv", "444", "--depth", "8",
                "--min", q, "--max", q, src, dst]

    def decode_args(self, src, dst) -> list:
        return ["avifdec", "--jobs", "1", "--depth", "8", src, dst]
