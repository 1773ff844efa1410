"""What every codec in an evaluation provides, and the helpers to run external tools."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from ncodec.errors import InputError


def thin(settings: list[float], points: int) -> list[float]:
    """``points`` > 0 of ``settings``, spread evenly (all of them when there are no more)."""
    if not points or points >= len(settings):
        return list(settings)
    index = np.unique(np.round(np.linspace(0, len(settings) - 1, points)).astype(int))
    return [settings[i] for i in index]


class Baseline:
    """A codec that turns one original of its ``modality`` into a real file and back (images: an
    RGB 8-bit array, what :meth:`~ncodec.codecs.modality.Modality.eval_read` gives).

    ``available()`` is None when it can run here, otherwise the install hint; ``settings()`` is the
    default sweep of its setting (images: covering about 0.05-2 bpp on photos); ``encode`` writes a
    file inside ``tmpdir`` and returns its path; ``decode`` reads that file back to what the
    modality's ``eval_measure`` compares (images: (H, W, 3) uint8 pixels).
    """

    name: str = ""
    description: str = ""
    kind: str = "baseline"
    modality: str = "image"         # the data it codes (a registered modality's name)
    variant: str | None = None      # set by the catalog for "<codec>-<variant>" names
    setting_name: str = "quality"   # what a setting means, for reports
    label_prefix: str = "q"         # file-name friendly label: q50, d1.5, qp32

    def available(self) -> str | None:
        return None

    def version(self) -> str:
        raise NotImplementedError

    def settings(self) -> list[float]:
        raise NotImplementedError

    def sweep(self, points: int = 0) -> list[float]:
        """The settings an evaluation runs (``ncodec eval --points``)."""
        return thin(self.settings(), points)

    def command(self, setting: float) -> str:
        """The exact encoder invocation or call (recorded in the results' meta block)."""
        raise NotImplementedError

    def encode(self, img: np.ndarray, setting: float, tmpdir: Path) -> Path:
        raise NotImplementedError

    def decode(self, path: Path) -> np.ndarray:
        raise NotImplementedError

    def label(self, setting: float) -> str:
        return f"{self.label_prefix}{setting:g}"

    def measures(self) -> dict:
        """Extra per-sample figures of the last encode (learned codecs: the model's estimated bits)."""
        return {}

    def encoder_output(self):
        """The encoder's own reconstruction of the last encode (learned codecs), else None."""
        return None

    def prepare(self) -> None:
        """One-time work in the process that encodes (e.g. loading a model); nothing by default."""


class PngTool(Baseline):
    """A baseline driven by an external encoder and decoder that read and write PNG files.

    Subclasses name the two programs, the Debian package that provides them and the file
    suffix, and give the argument lists (``encode_args`` / ``decode_args``)."""

    encoder: str = ""
    decoder: str = ""
    package: str = ""
    suffix: str = ""

    def available(self) -> str | None:
        missing = missing_programs(self.encoder, self.decoder)
        return f"{', '.join(missing)} not found: apt-get install {self.package}" if missing else None

    def encode_args(self, setting: float, src, dst) -> list:
        raise NotImplementedError

    def decode_args(self, src, dst) -> list:
        raise NotImplementedError

    def command(self, setting: float) -> str:
        return " ".join(map(str, self.encode_args(setting, "in.png", f"out{self.suffix}")))

    def encode(self, img: np.ndarray, setting: float, tmpdir: Path) -> Path:
        src = write_png(img, Path(tmpdir) / "in.png")
        dst = Path(tmpdir) / f"{self.name}-{self.label(setting)}{self.suffix}"
        run_tool(self.encode_args(setting, src, dst), self.encoder)
        return dst

    def decode(self, path: Path) -> np.ndarray:
        out = path.with_suffix(".decoded.png")
        run_tool(self.decode_args(path, out), self.decoder)
        return read_rgb8(out)


class YuvTool(Baseline):
    """A baseline driven by an external encoder and decoder of one raw 8-bit Y'CbCr 4:4:4 frame
    (full-range BT.709, :mod:`ncodec.eval.colour`). Raw planes carry no frame size, so the
    bitstream's name records it: ``<name>-<label>-<W>x<H><suffix>``."""

    encoder: str = ""   # for error messages
    decoder: str = ""
    suffix: str = ""

    def encode_args(self, setting: float, src, dst, width, height) -> list:
        raise NotImplementedError

    def decode_args(self, src, dst) -> list:
        raise NotImplementedError

    def command(self, setting: float) -> str:
        return " ".join(map(str, self.encode_args(setting, "in.yuv", f"out{self.suffix}", "W", "H")))

    def encode(self, img: np.ndarray, setting: float, tmpdir: Path) -> Path:
        from ncodec.eval.colour import write_yuv444

        height, width = img.shape[:2]
        src = Path(tmpdir) / "in.yuv"
        write_yuv444(src, img)
        dst = Path(tmpdir) / f"{self.name}-{self.label(setting)}-{width}x{height}{self.suffix}"
        run_tool(self.encode_args(setting, src, dst, width, height), self.encoder)
        return dst

    def decode(self, path: Path) -> np.ndarray:
        from ncodec.eval.colour import read_yuv444

        width, height = map(int, path.stem.rsplit("-", 1)[1].split("x"))
        out = path.with_suffix(".decoded.yuv")
        run_tool(self.decode_args(path, out), self.decoder)
        return read_yuv444(out, height, width)


class VideoBaseline(Baseline):
    """A baseline that codes a whole clip ((T, H, W, 3) uint8 RGB) into one file, low-delay with an
    intra frame every ``intra_period`` frames (``ncodec eval`` on clips, ``tools/video_bench``)."""

    kind = "video-baseline"
    modality = "video"

    def __init__(self, intra_period: int = 32, fps: float = 25.0):
        self.intra_period, self.fps = intra_period, fps

    def encode_clip(self, frames: np.ndarray, setting: float, tmpdir: Path) -> Path:
        raise NotImplementedError

    def decode_clip(self, path: Path) -> np.ndarray:
        raise NotImplementedError

    def frame_bits(self, path: Path) -> list[int]:
        """Bits of each coded frame, in display order."""
        raise NotImplementedError

    def encode(self, frames: np.ndarray, setting: float, tmpdir: Path) -> Path:
        return self.encode_clip(frames, setting, tmpdir)

    def decode(self, path: Path) -> np.ndarray:
        return self.decode_clip(path)


class ReferenceSoftware:
    """A baseline run with JVET reference software (HM, VTM) from a folder the user gives: its
    encoder and decoder binaries (in the folder or its ``bin``) and a configuration file
    ``cfg/<config>`` found in the folder or up to three folders above it."""

    folder: Path | None = None
    what = ""                        # for messages: "VTM", "HM"
    where = ""                       # how the folder is given: "VTM_DIR / --vtm-dir"
    hint = ""                        # install hint when no folder is given
    encoders: tuple[str, ...] = ()
    decoders: tuple[str, ...] = ()
    config = ""

    @staticmethod
    def given_folder(option, env: str) -> Path | None:
        """The folder from the command-line option, else from the environment variable."""
        given = option or os.environ.get(env) or None
        return Path(given).expanduser() if given else None

    def _tools(self) -> tuple[Path, Path, Path]:
        """Encoder, decoder and configuration; a given folder without them is the user's error."""
        d = self.folder
        if not d.is_dir():
            raise InputError(f"{self.what} folder not found: {d} ({self.where})")
        enc, dec = find_program(d, self.encoders), find_program(d, self.decoders)
        if enc is None or dec is None:
            raise InputError(f"no {self.what} {self.encoders[-1]}/{self.decoders[-1]} in {d} "
                             f"({self.where} must hold the binaries)")
        for base in (d, *d.parents[:3]):
            if (base / "cfg" / self.config).is_file():
                return enc, dec, base / "cfg" / self.config
        raise InputError(f"{self.what}'s cfg/{self.config} not found in {d} or the folders above it")

    def available(self) -> str | None:
        if self.folder is None:
            return self.hint
        self._tools()  # raises InputError when the given folder lacks the binaries
        return None

    def version(self) -> str:
        import hashlib

        enc, _, cfg = self._tools()
        text = tool_version([enc, "--help"], lambda ln: "version" in ln.lower())
        return f"{text}; {cfg.name} sha256 {hashlib.sha256(cfg.read_bytes()).hexdigest()[:12]}"


def run_tool(args: list, what: str) -> str:
    """Run an external program; its failure is an internal error with the tool's last words."""
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{what} failed (exit {r.returncode}): {' | '.join(tail) or 'no output'}")
    return r.stdout + r.stderr


def tool_version(args: list[str], pick=None) -> str:
    """First line of a tool's version output (or the line that ``pick`` selects)."""
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = [ln.strip() for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    if pick:
        lines = [ln for ln in lines if pick(ln)] or lines
    return lines[0] if lines else "unknown"


def find_program(folder: Path, names: tuple[str, ...]) -> Path | None:
    """The first executable of ``names`` in ``folder`` or its ``bin`` (how reference software
    builds lay out their binaries)."""
    for sub in (folder, folder / "bin"):
        for name in names:
            path = sub / name
            if path.is_file() and os.access(path, os.X_OK):
                return path
    return None


def missing_programs(*programs: str) -> list[str]:
    return [p for p in programs if shutil.which(p) is None]


def read_rgb8(path: Path) -> np.ndarray:
    """A decoder's output image file as (H, W, 3) uint8."""
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        if im.mode not in ("RGB", "RGBA", "L"):
            raise InputError(f"{path}: decoder wrote mode {im.mode}, expected 8-bit RGB")
        return np.asarray(im.convert("RGB"))


def write_png(img: np.ndarray, path: Path) -> Path:
    from PIL import Image

    Image.fromarray(img).save(path, compress_level=1)
    return path
