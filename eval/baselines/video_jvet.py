"""Video baselines with JVET's reference software, low-delay P, when their binaries are given:
HM (HEVC; ``HM_DIR``: TAppEncoder / TAppDecoder) and VTM (VVC; ``VTM_DIR`` or ``--vtm-dir``:
EncoderApp / DecoderApp).

Each runs its common-test-conditions low-delay P configuration (``cfg/encoder_lowdelay_P_main.cfg``
for HM, ``cfg/encoder_lowdelay_P_vtm.cfg`` for VTM, found beside or above the binaries: its GOP of
QP offsets, several reference frames, RDOQ and loop filters) with an IDR every ``intra_period``
frames and a QP sweep. Like the x264/x265 baselines the RGB clip goes through ffmpeg's
conversion to Y'CbCr 4:2:0 8-bit (BT.601 limited range) and back, so PSNR-RGB includes the 4:2:0
loss and the figures compare. The bitstream file is the rate; the encoder's per-frame bits (its
``POC ... bits`` lines) are kept beside it, as raw bitstreams carry no frame size.
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np

from ncodec.eval.baselines import register_baseline
from ncodec.eval.baselines.base import ReferenceSoftware, VideoBaseline, missing_programs, run_tool
from ncodec.eval.baselines.vtm import HINT as VTM_HINT

_POC_BITS = re.compile(r"^POC\s+(\d+)\b.*?\)\s+(\d+)\s+bits", re.M)


def frame_bits_from_log(log: str, frames: int) -> list[int]:
    """Bits of each frame, in display order, from the encoder's ``POC n ... ( ... ) b bits`` lines."""
    bits = {int(poc): int(b) for poc, b in _POC_BITS.findall(log)}
    if sorted(bits) != list(range(frames)):
        raise RuntimeError(f"encoder log lists frames {sorted(bits)[:5]}..., expected 0..{frames - 1}")
    return [bits[i] for i in range(frames)]


class _JvetLowDelay(ReferenceSoftware, VideoBaseline):
    setting_name, label_prefix = "QP", "qp"
    suffix = ".bin"
    takes_options = True
    env, option = "", ""  # where the binaries are given: the environment variable, the eval option

    def __init__(self, intra_period: int = 32, fps: float = 25.0, **options):
        super().__init__(intra_period, fps)
        self.folder = self.given_folder(options.get(self.option), self.env)

    def available(self) -> str | None:
        hint = super().available()
        if hint is None and missing_programs("ffmpeg"):
            return "ffmpeg not found: apt-get install ffmpeg"
        return hint

    def settings(self) -> list[float]:
        return [47.0, 42.0, 37.0, 32.0, 27.0]

    def encode_args(self, qp: float, src, dst, width, height, frames) -> list:
        enc, _, cfg = self._tools()
        return [enc, "-c", cfg, "-i", src, "-b", dst, "-o", "/dev/null", "-wdt", width, "-hgt", height,
                "-fr", max(1, round(self.fps)), "-f", frames, "-q", int(qp), f"--IntraPeriod={self.intra_period}",
                "--DecodingRefreshType=2", "--InputChromaFormat=420", "--InputBitDepth=8", "--OutputBitDepth=8"]

    def command(self, setting: float) -> str:
        if self.folder is None:
            return f"{self.name} QP {setting:g}"
        return " ".join(map(str, self.encode_args(setting, "in.yuv", "out.bin", "W", "H", "T")))

    def encode_clip(self, frames: np.ndarray, setting: float, tmpdir: Path) -> Path:
        t, h, w = frames.shape[:3]
        tmpdir = Path(tmpdir)
        rgb, yuv = tmpdir / "in.rgb", tmpdir / "in.yuv"
        dst = tmpdir / f"{self.label(setting)}_{w}x{h}{self.suffix}"
        rgb.write_bytes(np.ascontiguousarray(frames).tobytes())
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                        "-i", str(rgb), "-pix_fmt", "yuv420p", "-f", "rawvideo", str(yuv)], check=True, capture_output=True)
        log = run_tool(self.encode_args(setting, yuv, dst, w, h, t), self.name)
        dst.with_suffix(".bits.json").write_text(json.dumps(frame_bits_from_log(log, t)))
        rgb.unlink()
        yuv.unlink()
        return dst

    def frame_bits(self, path: Path) -> list[int]:
        return json.loads(Path(path).with_suffix(".bits.json").read_text())

    def decode_clip(self, path: Path) -> np.ndarray:
        _, dec, _ = self._tools()
        w, h = (int(v) for v in Path(path).stem.split("_")[-1].split("x"))
        yuv = Path(path).with_suffix(".decoded.yuv")
        run_tool([dec, "-b", path, "-o", yuv, "-d", 8], self.name)
        raw = subprocess.run(["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}",
                              "-i", str(yuv), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                             check=True, capture_output=True).stdout
        yuv.unlink()
        return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)


@register_baseline
class HMLowDelay(_JvetLowDelay):
    name = "hm-ld"
    description = "HEVC (HM reference software), low-delay P (CTC configuration), IDR every intra period, QP"
    env, option, what, where = "HM_DIR", "hm_dir", "HM", "HM_DIR"
    encoders, decoders = ("TAppEncoderStatic", "TAppEncoder"), ("TAppDecoderStatic", "TAppDecoder")
    config = "encoder_lowdelay_P_main.cfg"
    hint = ("set HM_DIR to the folder with HM's TAppEncoder and TAppDecoder "
            "(build https://vcgit.hhi.fraunhofer.de/jvet/HM with cmake)")


@register_baseline
class VTMLowDelay(_JvetLowDelay):
    name = "vtm-ld"
    description = "VVC (VTM reference software), low-delay P (CTC configuration), IDR every intra period, QP"
    env, option, what, where = "VTM_DIR", "vtm_dir", "VTM", "VTM_DIR / --vtm-dir"
    encoders, decoders = ("EncoderAppStatic", "EncoderApp"), ("DecoderAppStatic", "DecoderApp")
    config, hint = "encoder_lowdelay_P_vtm.cfg", VTM_HINT
