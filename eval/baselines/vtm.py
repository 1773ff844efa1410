"""VVC intra with the reference software VTM (EncoderApp / DecoderApp), when ``VTM_DIR`` (or
``--vtm-dir``) points at the folder holding its binaries.

The options follow CompressAI's image benchmark: the intra configuration file
(``cfg/encoder_intra_vtm.cfg`` found beside or above the binaries), 8-bit 4:4:4 input converted
from RGB with full-range BT.709 (``eval.colour``), one frame, conformance window padding, 8-bit
decoder output. The bitstream file is the rate; its name also records the frame size because
the decoder writes raw planes.
"""
from __future__ import annotations

from pathlib import Path

from ncodec.eval.baselines import register_baseline
from ncodec.eval.baselines.base import ReferenceSoftware, YuvTool

HINT = ("set VTM_DIR (or --vtm-dir) to the folder with VTM's EncoderApp and DecoderApp "
        "(build https://vcgit.hhi.fraunhofer.de/jvet/VVCSoftware_VTM with cmake)")


@register_baseline
class VTM(ReferenceSoftware, YuvTool):
    name, description = "vtm", "VVC intra (VTM reference software, 4:4:4 8-bit, intra config)"
    setting_name, label_prefix = "QP", "qp"
    encoder, decoder, suffix = "VTM EncoderApp", "VTM DecoderApp", ".bin"
    takes_options = True
    what, where, hint = "VTM", "VTM_DIR / --vtm-dir", HINT
    encoders, decoders = ("EncoderAppStatic", "EncoderApp"), ("DecoderAppStatic", "DecoderApp")
    config = "encoder_intra_vtm.cfg"

    def __init__(self, vtm_dir: str | Path | None = None, **_):
        self.folder = self.given_folder(vtm_dir, "VTM_DIR")

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
