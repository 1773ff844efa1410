"""AVIF through libavif's command-line tools (avifenc / avifdec, Debian package libavif-bin)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ncodec.eval.baselines import register_baseline
from ncodec.eval.baselines.base import Baseline, missing_programs, read_rgb8, run_tool, tool_version, write_png


@register_baseline
class AVIF(Baseline):
    """A setting is the AV1 quantizer (0..63, lower is better), used as both --min and --max."""

    name, description = "avif", "AVIF (libavif avifenc, AV1 4:4:4, speed 6, fixed quantizer)"
    setting_name, label_prefix = "quantizer", "q"
    speed = 6

    def available(self) -> str | None:
        missing = missing_programs("avifenc", "avifdec")
        return f"{', '.join(missing)} not found: apt-get install libavif-bin" if missing else None

    def version(self) -> str:
        return "avifenc " + tool_version(["avifenc", "--version"], lambda ln: ln.startswith("Version")).replace("Version: ", "")

    def settings(self) -> list[float]:
        return [62, 56, 50, 44, 38, 32, 26, 20, 14, 8]

    def _args(self, setting: float, src, dst) -> list:
        q = int(setting)
        return ["avifenc", "--jobs", "1", "--speed", self.speed, "--yuv", "444", "--depth", "8",
                "--min", q, "--max", q, src, dst]

    def command(self, setting: float) -> str:
        return " ".join(map(str, self._args(setting, "in.png", "out.avif")))

    def encode(self, img: np.ndarray, setting: float, tmpdir: Path) -> Path:
        src = write_png(img, Path(tmpdir) / "in.png")
        dst = Path(tmpdir) / f"avif-{self.label(setting)}.avif"
        run_tool(self._args(setting, src, dst), "avifenc")
        return dst

    def decode(self, path: Path) -> np.ndarray:
        out = path.with_suffix(".decoded.png")
        run_tool(["avifdec", "--jobs", "1", "--depth", "8", path, out], "avifdec")
        return read_rgb8(out)
