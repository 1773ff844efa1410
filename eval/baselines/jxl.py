"""JPEG XL through libjxl's command-line tools (cjxl / djxl, Debian package libjxl-tools)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ncodec.eval.baselines import register_baseline
from ncodec.eval.baselines.base import Baseline, missing_programs, read_rgb8, run_tool, tool_version, write_png


@register_baseline
class JPEGXL(Baseline):
    """A setting is cjxl's Butteraugli distance (lower is better)."""

    name, description = "jxl", "JPEG XL (libjxl cjxl, VarDCT, effort 7)"
    setting_name, label_prefix = "distance", "d"
    effort = 7

    def available(self) -> str | None:
        missing = missing_programs("cjxl", "djxl")
        return f"{', '.join(missing)} not found: apt-get install libjxl-tools" if missing else None

    def version(self) -> str:
        return tool_version(["cjxl", "--version"])

    def settings(self) -> list[float]:
        return [25, 12, 8, 5, 3.5, 2.5, 1.6, 1.0, 0.6]

    def _args(self, setting: float, src, dst) -> list:
        return ["cjxl", src, dst, "--distance", f"{setting:g}", "--effort", self.effort, "--num_threads", "0"]  # 0: one thread

    def command(self, setting: float) -> str:
        return " ".join(map(str, self._args(setting, "in.png", "out.jxl")))

    def encode(self, img: np.ndarray, setting: float, tmpdir: Path) -> Path:
        src = write_png(img, Path(tmpdir) / "in.png")
        dst = Path(tmpdir) / f"jxl-{self.label(setting)}.jxl"
        run_tool(self._args(setting, src, dst), "cjxl")
        return dst

    def decode(self, path: Path) -> np.ndarray:
        out = path.with_suffix(".decoded.png")
        run_tool(["djxl", path, out, "--num_threads", "1", "--bits_per_sample", "8"], "djxl")
        return read_rgb8(out)
