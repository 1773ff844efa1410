"""JPEG XL through libjxl's command-line tools (cjxl / djxl, Debian package libjxl-tools)."""
from __future__ import annotations

from ncodec.eval.baselines import register_baseline
from ncodec.eval.baselines.base import PngTool, tool_version


@register_baseline
class JPEGXL(PngTool):
    """A setting is cjxl's Butteraugli distance (lower is better)."""

    name, description = "jxl", "JPEG XL (libjxl cjxl, VarDCT, effort 7)"
    setting_name, label_prefix = "distance", "d"
    encoder, decoder, package, suffix = "cjxl", "djxl", "libjxl-tools", ".jxl"
    effort = 7

    def version(self) -> str:
        return tool_version(["cjxl", "--version"])

    def settings(self) -> list[float]:
        return [25, 12, 8, 5, 3.5, 2.5, 1.6, 1.0, 0.6]

    def encode_args(self, setting: float, src, dst) -> list:
        return ["cjxl", src, dst, "--distance", f"{setting:g}", "--effort", self.effort, "--num_threads", "0"]  # 0: one thread

    def decode_args(self, src, dst) -> list:
        return ["djxl", src, dst, "--num_threads", "1", "--bits_per_sample", "8"]
