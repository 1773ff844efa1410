"""VVC intra with the reference software VTM (EncoderApp / DecoderApp), when ``VTM_DIR`` (or
``--vtm-dir``) points at the folder holding its binaries.

The options follow CompressAI's image benchmark: the intra configuration file
(``cfg/encoder_intra_vtm.cfg`` found beside or above the binaries), 8-bit 4:4:4 input converted
from RGB with full-range BT.709 (``eval.colour``), one frame, conformance window padding, 8-bit
decoder output. The bitstream file is the rate; its name also records the frame size because
the decoder writes raw planes.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ncodec.errors import InputError
from ncodec.eval.baselines import register_baseline
from ncodec.eval.baselines.base import YuvTool, find_program, tool_version

HINT = ("set VTM_DIR (or --vtm-dir) to the folder with VTM's EncoderApp and DecoderApp "
        "(build https://vcgit.hhi.fraunhofer.de/jvet/VVCSoftware_VTM with cmake)")
CONFIG = Path("cfg") / "encoder_intra_vtm.cfg"


@register_baseline
class VTM(YuvTool):
    name, description = "vtm", "VVC intra (VTM reference software, 4:4:4 8-bit, intra config)"
    setting_name, label_prefix = "QP", "qp"
    encoder, decoder, suffix = "VTM EncoderApp", "VTM DecoderApp", ".bin"
    takes_options = True

    def __init__(self, vtm_dir: str | Path | None = None, **_):
        given = vtm_dir or os.environ.get("VTM_DIR") or None
        self.vtm_dir = Path(given).expanduser() if given else None

    def _tools(self) -> tuple[Path, Path, Path]:
        """Encoder, decoder and config; a given folder without them is the user's error."""
        d = self.vtm_dir
        if not d.is_dir():
            raise InputError(f"VTM folder not found: {d} (VTM_DIR / --vtm-dir)")
        enc = find_program(d, ("EncoderAppStatic", "EncoderApp"))
        dec = find_program(d, ("DecoderAppStatic", "DecoderApp"))
        if enc is None or dec is None:
            raise InputError(f"no VTM EncoderApp/DecoderApp in {d} (VTM_DIR / --vtm-dir must hold the binaries)")
        for base in (d, *d.parents[:3]):
            if (base / CONFIG).is_file():
                return enc, dec, base / CONFIG
        raise InputError(f"VTM's {CONFIG} not found in {d} or the folders above it")

    def available(self) -> str | None:
        if self.vtm_dir is None:
            return HINT
        self._tools()  # raises InputError when the given folder lacks the binaries
        return None

    def version(self) -> str:
        enc, _, cfg = self._tools()
        text = tool_version([enc, "--help"], lambda ln: "version" in ln.lower())
        return f"{text}; {cfg.name} sha256 {hashlib.sha256(cfg.read_bytes()).hexdigest()[:12]}"

    def settings(self) -> list[float]:
        return [47, 42, 37, 32, 27, 22]

    def encode_args(self, setting: float, src, dst, width, height) -> list:
        enc, _, cfg = self._tools()
        return [enc, "-c", cfg, "-i", src, "-b", dst, "-o", "/dev/null", "-q", int(setting),
                "-wdt", width, "-hgt", height, "-fr", 1, "-f", 1, "--InputChromaFormat=444",
                "--InputBitDepth=8", "--ConformanceWindowMode=1"]

    def decode_args(self, src, dst) -> list:
        _, dec, _ = self._tools()
        return [dec, "-b", src, "-o", dst, "-d", 8]
