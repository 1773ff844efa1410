"""Video files <-> (T, H, W, 3) uint8 RGB frames, with the source's pixel format kept.

Inputs: ``.y4m`` (8-bit 4:2:0 / 4:4:4: ``C420jpeg``/``C420paldv``/``C420mpeg2``/``C420``/``C444``;
other colour spaces are refused), raw ``.yuv`` (``--size WxH --fps F --pix-fmt yuv420p|yuv444p``), ``.mp4``/``.mkv``
through PyAV, a folder of PNG frames (sorted by name).

What is coded: RGB 8-bit 4:4:4. YCbCr sources are converted with the BT.601 limited-range matrix
(what y4m/raw-yuv tools assume for SD/CIF material) and 4:2:0 chroma is upsampled (each chroma
sample to its 2x2 pixels, edge-aware: plain replication). Writing YCbCr converts back (4:2:0: the
mean of each 2x2 block). The conversion is the only loss beyond the codec's (stated by
``ncodec info``); PNG/mp4/mkv outputs keep the coded RGB: mp4 is H.264 *lossless* RGB
(libx264rgb, qp 0), mkv FFV1 (lossless).
"""
from __future__ import annotations

import mmap
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ncodec.errors import InputError

PIX_FMTS = ("rgb24", "yuv420p", "yuv444p")
MAX_FRAMES = 1 << 16
MAX_SIDE = 1 << 14
#: Pixels of one clip (frames x width x height): 2**30, e.g. 17 s of 1080p at 30 fps or 39 s of
#: 720p. A clip is held in memory as 8-bit RGB, once read and once decoded (about 7 GB at the
#: limit); longer clips are refused, not swapped or killed: split them (``ffmpeg -ss S -t T``).
#: The decoder refuses files that state more, so every file the encoder writes also decodes.
MAX_CLIP_PIXELS = 1 << 30

# BT.601 limited range
_M = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_M_INV = np.linalg.inv(_M)


@dataclass
class Clip:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB
    fps: float
    pix_fmt: str  # the source's pixel format, written back by default

    @property
    def count(self) -> int:
        return int(self.frames.shape[0])


def yuv_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """8-bit planes (chroma full size) -> (..., 3) uint8 RGB (BT.601 limited)."""
    yy = (y.astype(np.float64) - 16) * (255 / 219)
    uu = (u.astype(np.float64) - 128) * (255 / 224)
    vv = (v.astype(np.float64) - 128) * (255 / 224)
    rgb = np.stack([yy, uu, vv], -1) @ _M_INV.T
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def rgb_to_yuv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(..., 3) RGB -> float planes Y, Cb, Cr (BT.601 limited, not rounded)."""
    ycc = rgb.astype(np.float64) @ _M.T
    return ycc[..., 0] * (219 / 255) + 16, ycc[..., 1] * (224 / 255) + 128, ycc[..., 2] * (224 / 255) + 128


def _up(c: np.ndarray, h: int, w: int) -> np.ndarray:
    return np.repeat(np.repeat(c, 2, axis=-2), 2, axis=-1)[..., :h, :w]


def _down(c: np.ndarray) -> np.ndarray:
    """Mean of each 2x2 block (odd sides: the last row/column is its own block)."""
    h, w = c.shape[-2:]
    p = np.pad(c, [(0, 0)] * (c.ndim - 2) + [(0, h % 2), (0, w % 2)], mode="edge")
    return (p[..., 0::2, 0::2] + p[..., 1::2, 0::2] + p[..., 0::2, 1::2] + p[..., 1::2, 1::2]) / 4


def planes_to_rgb(y, u, v, pix_fmt: str) -> np.ndarray:
    h, w = y.shape[-2:]
    if pix_fmt == "yuv420p":
        u, v = _up(u, h, w), _up(v, h, w)
    return yuv_to_rgb(y, u, v)


def rgb_to_planes(rgb: np.ndarray, pix_fmt: str):
    """uint8 planes of (T, H, W, 3) frames in ``pix_fmt`` (yuv420p / yuv444p)."""
    y, u, v = rgb_to_yuv(rgb)
    if pix_fmt == "yuv420p":
        u, v = _down(u), _down(v)
    q = lambda a: np.clip(np.round(a), 0, 255).astype(np.uint8)  # noqa: E731
    return q(y), q(u), q(v)


def chroma_shape(h: int, w: int, pix_fmt: str) -> tuple[int, int]:
    return ((h + 1) // 2, (w + 1) // 2) if pix_fmt == "yuv420p" else (h, w)


def check_clip(frames: int, w: int, h: int, what: str, error: type[Exception] = InputError) -> None:
    """Refuse a clip over :data:`MAX_CLIP_PIXELS` before anything of its size is allocated."""
    if frames * w * h > MAX_CLIP_PIXELS:
        raise error(f"{what}: {frames} frames of {w}x{h} are over the limit of {MAX_CLIP_PIXELS} pixels per clip "
                    f"(at most {max(MAX_CLIP_PIXELS // (w * h), 1)} frames of this size); split the clip")


def _frames_rgb(frame_bytes, count: int, w: int, h: int, pix_fmt: str) -> np.ndarray:
    """(count, H, W, 3) uint8 RGB from ``frame_bytes(i)``, the flat Y, U, V planes of frame i,
    converted one frame at a time (the float conversion of a whole clip at once needs about 100
    bytes per pixel)."""
    out = np.empty((count, h, w, 3), dtype=np.uint8)
    for i in range(count):
        out[i] = _planes(frame_bytes(i)[None], w, h, pix_fmt)[0]
    return out


def _check_size(w: int, h: int, pix_fmt: str, what: str) -> None:
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
        raise InputError(f"{what}: frame size {w}x{h} is outside 1..{MAX_SIDE}")
    if pix_fmt == "yuv420p" and (w % 2 or h % 2):
        raise InputError(f"{what}: 4:2:0 frames need even sides, got {w}x{h}")


# ------------------------------------------------------------------ y4m

_Y4M_CS = {"420jpeg": "yuv420p", "420paldv": "yuv420p", "420mpeg2": "yuv420p", "420": "yuv420p", "444": "yuv444p"}


def read_y4m(path: Path) -> Clip:
    """The clip of a y4m file, which is mapped, not read, so only one frame's bytes at a time
    are touched beyond the decoded RGB."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: not a YUV4MPEG2 (y4m) file")
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return _read_y4m(path, data)


def _read_y4m(path: Path, data) -> Clip:
    end = data.find(b"\n")
    if data[:10] != b"YUV4MPEG2 " or end < 0:
        raise InputError(f"{path}: not a YUV4MPEG2 (y4m) file")
    fields = data[10:end].decode("ascii", "replace").split()
    w = h = None
    fps, pix_fmt = 25.0, "yuv420p"
    for f in fields:
        key, val = f[0], f[1:]
        try:
            if key == "W":
                w = int(val)
            elif key == "H":
                h = int(val)
            elif key == "F":
                num, den = val.split(":")
                fps = int(num) / int(den)
            elif key == "C":
                cs = val.split("p")[0] if val.startswith("444p") or val.startswith("420p") else val
                if cs not in _Y4M_CS:
                    raise InputError(f"{path}: unsupported y4m colour space C{val} (8-bit 4:2:0 or 4:4:4 only)")
                pix_fmt = _Y4M_CS[cs]
                if val.startswith(("444p1", "420p1")):
                    raise InputError(f"{path}: unsupported y4m colour space C{val} (8-bit only)")
        except (ValueError, ZeroDivisionError):
            raise InputError(f"{path}: bad y4m header field {f!r}") from None
    if w is None or h is None:
        raise InputError(f"{path}: y4m header has no frame size")
    if not (fps > 0 and np.isfinite(fps)):
        raise InputError(f"{path}: bad y4m frame rate")
    _check_size(w, h, pix_fmt, str(path))
    ch, cw = chroma_shape(h, w, pix_fmt)
    frame_bytes = w * h + 2 * ch * cw
    starts, pos = [], end + 1
    while pos < len(data):
        line_end = data.find(b"\n", pos)
        if data[pos: pos + 5] != b"FRAME" or line_end < 0:
            raise InputError(f"{path}: corrupted y4m (no FRAME marker at byte {pos})")
        start = line_end + 1
        if start + frame_bytes > len(data):
            raise InputError(f"{path}: truncated y4m (frame {len(starts)} is incomplete)")
        starts.append(start)
        pos = start + frame_bytes
        if len(starts) > MAX_FRAMES:
            raise InputError(f"{path}: more than {MAX_FRAMES} frames")
    if not starts:
        raise InputError(f"{path}: y4m has no frames")
    check_clip(len(starts), w, h, str(path))
    # (a slice of the map is a copy of one frame's bytes: no view outlives the map)
    return Clip(_frames_rgb(lambda i: np.frombuffer(data[starts[i]: starts[i] + frame_bytes], np.uint8),
                            len(starts), w, h, pix_fmt), fps, pix_fmt)


def _planes(raw: np.ndarray, w: int, h: int, pix_fmt: str) -> np.ndarray:
    ch, cw = chroma_shape(h, w, pix_fmt)
    y = raw[:, : w * h].reshape(-1, h, w)
    u = raw[:, w * h : w * h + ch * cw].reshape(-1, ch, cw)
    v = raw[:, w * h + ch * cw :].reshape(-1, ch, cw)
    return planes_to_rgb(y, u, v, pix_fmt)


def _y4m_parts(frames: np.ndarray, fps: float, pix_fmt: str):
    """The y4m file's bytes in pieces, converting one frame at a time."""
    t, h, w = frames.shape[:3]
    num, den = _rational(fps)
    cs = {"yuv420p": "420jpeg", "yuv444p": "444"}[pix_fmt]
    yield f"YUV4MPEG2 W{w} H{h} F{num}:{den} Ip A1:1 C{cs}\n".encode()
    for part in _yuv_parts(frames, pix_fmt):
        yield b"FRAME\n"
        yield part


def _yuv_parts(frames: np.ndarray, pix_fmt: str):
    """Each frame's Y, U, V planes as bytes, one frame at a time."""
    for frame in frames:
        yield b"".join(p[0].tobytes() for p in rgb_to_planes(frame[None], pix_fmt))


def y4m_bytes(frames: np.ndarray, fps: float, pix_fmt: str) -> bytes:
    return b"".join(_y4m_parts(frames, fps, pix_fmt))


def _rational(fps: float) -> tuple[int, int]:
    for den in (1, 1001, 1000):
        num = fps * den
        if abs(num - round(num)) < 1e-6 * den:
            return int(round(num)), den
    return int(round(fps * 1000)), 1000


# ------------------------------------------------------------------ raw yuv

def parse_size(size: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(size))
    if not m:
        raise InputError(f"--size must be WxH, got {size!r}")
    return int(m.group(1)), int(m.group(2))


def read_yuv(path: Path, size: str | None, fps: float | None, pix_fmt: str | None) -> Clip:
    if size is None:
        raise InputError(f"{path}: a raw .yuv input needs --size WxH (and --fps, --pix-fmt)")
    w, h = parse_size(size)
    pix_fmt = pix_fmt or "yuv420p"
    if pix_fmt not in ("yuv420p", "yuv444p"):
        raise InputError(f"unsupported pixel format {pix_fmt!r} for raw .yuv (yuv420p or yuv444p)")
    fps = 25.0 if fps is None else float(fps)
    if not (fps > 0 and np.isfinite(fps)):
        raise InputError(f"--fps must be a positive number, got {fps}")
    _check_size(w, h, pix_fmt, str(path))
    ch, cw = chroma_shape(h, w, pix_fmt)
    frame_bytes = w * h + 2 * ch * cw
    n = Path(path).stat().st_size
    if n == 0:
        raise InputError(f"{path}: raw video has no frames")
    if n % frame_bytes:
        raise InputError(f"{path}: size {n} bytes is not a multiple of one {w}x{h} {pix_fmt} frame "
                         f"({frame_bytes} bytes)")
    if n // frame_bytes > MAX_FRAMES:
        raise InputError(f"{path}: more than {MAX_FRAMES} frames")
    check_clip(n // frame_bytes, w, h, str(path))
    raw = np.memmap(path, dtype=np.uint8, mode="r").reshape(-1, frame_bytes)  # mapped: one frame touched at a time
    return Clip(_frames_rgb(lambda i: raw[i], len(raw), w, h, pix_fmt), fps, pix_fmt)


def yuv_bytes(frames: np.ndarray, pix_fmt: str) -> bytes:
    return b"".join(_yuv_parts(frames, pix_fmt))


# ------------------------------------------------------------------ PNG frames

def read_png_folder(path: Path) -> Clip:
    from PIL import Image

    files = sorted(p for p in Path(path).iterdir() if p.suffix.lower() == ".png")
    if not files:
        raise InputError(f"{path}: folder has no PNG frames")
    frames = None
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:
                if im.mode not in ("RGB", "RGBA", "L", "P"):
                    raise InputError(f"{f}: unsupported PNG mode {im.mode} (8-bit gray/RGB only)")
                if frames is None:  # the first frame sets the size: check the clip before allocating it
                    _check_size(im.width, im.height, "rgb24", str(path))
                    check_clip(len(files), im.width, im.height, str(path))
                    frames = np.empty((len(files), im.height, im.width, 3), dtype=np.uint8)
                elif im.size != (frames.shape[2], frames.shape[1]):
                    raise InputError(f"{f}: frame size {im.width}x{im.height} differs from the first "
                                     f"frame's {frames.shape[2]}x{frames.shape[1]}")
                frames[i] = np.asarray(im.convert("RGB"))
        except InputError:
            raise
        except Exception as e:  # noqa: BLE001 - any unreadable frame is bad input
            raise InputError(f"{f}: cannot read PNG frame ({type(e).__name__})") from None
    return Clip(frames, 25.0, "rgb24")


def write_png_folder(folder: Path, frames: np.ndarray) -> None:
    from PIL import Image

    folder.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"{i + 1:05d}.png")


# ------------------------------------------------------------------ mp4 / mkv (PyAV)

def read_av(path: Path) -> Clip:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path}: no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 25)
            src_fmt = stream.codec_context.pix_fmt or "yuv420p"
            frames = []
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
                if len(frames) > MAX_FRAMES:
                    raise InputError(f"{path}: more than {MAX_FRAMES} frames")
                check_clip(len(frames), frame.width, frame.height, str(path))
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - PyAV's errors for unreadable files
        raise InputError(f"{path}: cannot read video ({type(e).__name__}: {e})") from None
    if not frames:
        raise InputError(f"{path}: video has no frames")
    pix_fmt = src_fmt if src_fmt in PIX_FMTS else "yuv420p"
    return Clip(np.stack(frames), fps, pix_fmt)


def write_av(path: Path, frames: np.ndarray, fps: float, kind: str) -> None:
    """Lossless: mp4 = H.264 RGB qp 0 (libx264rgb), mkv = FFV1 (bgr0)."""
    from fractions import Fraction

    import av

    num, den = _rational(fps)
    with av.open(str(path), "w", format=kind) as container:
        if kind == "mp4":
            stream = container.add_stream("libx264rgb", rate=Fraction(num, den))
            stream.pix_fmt = "rgb24"
            stream.options = {"qp": "0", "preset": "medium"}
        else:
            stream = container.add_stream("ffv1", rate=Fraction(num, den))
            stream.pix_fmt = "bgr0"
        stream.height, stream.width = frames.shape[1:3]
        for f in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            if kind == "matroska":
                frame = frame.reformat(format="bgr0")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# ------------------------------------------------------------------ dispatch

SUFFIXES = (".y4m", ".yuv", ".mp4", ".mkv")


def is_frame_folder(path: Path) -> bool:
    path = Path(path)
    return path.is_dir() and any(p.suffix.lower() == ".png" for p in path.iterdir())


def read(path: Path, size=None, fps=None, pix_fmt=None) -> Clip:
    path = Path(path)
    if path.is_dir():
        clip = read_png_folder(path)
    elif not path.is_file():
        raise InputError(f"input not found: {path}")
    else:
        suffix = path.suffix.lower()
        if suffix != ".yuv" and (size is not None or pix_fmt is not None):
            raise InputError("--size and --pix-fmt apply to raw .yuv input only")
        clip = {".y4m": read_y4m, ".mp4": read_av, ".mkv": read_av}.get(suffix)
        clip = read_yuv(path, size, fps, pix_fmt) if suffix == ".yuv" else clip(path)
    if fps is not None:
        if not (float(fps) > 0 and np.isfinite(float(fps))):
            raise InputError(f"--fps must be a positive number, got {fps}")
        clip.fps = float(fps)
    return clip


def write(tmp: Path, target: Path, frames: np.ndarray, fps: float, pix_fmt: str) -> None:
    suffix = Path(target).suffix.lower()
    out_fmt = pix_fmt if pix_fmt in ("yuv420p", "yuv444p") else "yuv444p"
    if suffix in (".y4m", ".yuv"):
        parts = _y4m_parts(frames, fps, out_fmt) if suffix == ".y4m" else _yuv_parts(frames, out_fmt)
        with open(tmp, "wb") as f:
            for part in parts:
                f.write(part)
    elif suffix in (".mp4", ".mkv"):
        write_av(tmp, frames, fps, "mp4" if suffix == ".mp4" else "matroska")
    elif suffix == "":
        Path(tmp).unlink(missing_ok=True)
        write_png_folder(Path(tmp), frames)
    else:
        raise InputError(f"cannot write video as {suffix}")
