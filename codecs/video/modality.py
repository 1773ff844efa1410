"""The video modality: clips (.y4m, raw .yuv, .mp4/.mkv, a folder of PNG frames) <-> ncodec containers.

What is coded: 8-bit RGB, 4:4:4 (the ``lvc`` codec). YCbCr sources (y4m, raw yuv, most mp4) are
converted with BT.601 limited range and 4:2:0 chroma is upsampled; the header records the
source's pixel format, and decoding to .y4m/.yuv writes that format again (4:2:0: mean of each
2x2 chroma block; an RGB source gives 4:4:4). PNG frames, .mp4 (H.264 lossless RGB) and .mkv
(FFV1) keep the decoded RGB exactly.

Options: encode ``--quality``, ``--intra-period`` (frames between intra frames; random access
points), raw input ``--size WxH --fps F --pix-fmt yuv420p|yuv444p``; decode ``--frames A:B``
(frames A..B-1, decoding from the last intra frame at or before A).
"""
from __future__ import annotations

import struct
import time
from pathlib import Path

import numpy as np

from ncodec.codecs.modality import Encoded, Example, Metric, Modality, Option
from ncodec.codecs.registry import register_modality
from ncodec.errors import FormatError, InputError

_OWN = struct.Struct("<IIB")  # the modality's: fps numerator, denominator, source pixel format
_PIX = ("rgb24", "yuv420p", "yuv444p")
MAX_FRAMES = 1 << 16
MAX_SIDE = 1 << 14
MAX_PIXELS_PER_FRAME = 1 << 25
SUFFIXES = (".y4m", ".yuv", ".mp4", ".mkv")


def parse_frames(spec: str | None, total: int) -> tuple[int, int]:
    """``A:B`` (either side may be empty; B exclusive) -> (start, stop) within 0..total."""
    if spec is None:
        return 0, total
    parts = str(spec).split(":")
    try:
        if len(parts) == 1:
            start = int(parts[0])
            stop = start + 1
        elif len(parts) == 2:
            start = int(parts[0]) if parts[0] else 0
            stop = int(parts[1]) if parts[1] else total
        else:
            raise ValueError
    except ValueError:
        raise InputError(f"--frames must be A:B (frame numbers from 0, B exclusive), got {spec!r}") from None
    if not 0 <= start < stop <= total:
        raise InputError(f"--frames {spec}: the file has frames 0..{total - 1}")
    return start, stop


class VideoModality(Modality):
    """Video clips: y4m, raw yuv, mp4/mkv (PyAV), folders of PNG frames; low-delay P coding."""

    name, code, noun = "video", 2, "a video"
    suffixes = SUFFIXES
    default_codec = "video-lvc-vpf"  # the shipped checkpoint of the lvc codec (video-lvc-mlp with a post-filter trained on its frames)
    rate_key, count_key, rate_parameter = "bpp", "pixels", "quality"
    codecs = {"ncodec.codecs.video.codec": ("lvc",)}
    options = (
        Option(("--quality",), {"type": float, "help": "continuous quality in the model's range"}),
        Option(("--intra-period",), {"type": int, "help": "video: frames from one intra frame to the next (GOP)"}),
        Option(("--size",), {"help": "raw .yuv input: frame size WxH"}),
        Option(("--fps",), {"type": float, "help": "raw .yuv input: frame rate (default 25)"}),
        Option(("--pix-fmt",), {"help": "raw .yuv input: yuv420p (default) or yuv444p"}),
        Option(("--frames",), {"help": "video decode: frames A:B (from 0, B exclusive)"}, stages=("decode",)),
    )

    # -- evaluation (``ncodec eval --dataset DIR``: every clip in DIR, or DIR itself as PNG frames) ---
    eval_unit = "sequence"
    eval_metrics = (Metric("psnr", "psnr-rgb", "PSNR-RGB (dB)"), Metric("psnr-y", "psnr-y", "PSNR-Y (dB)"),
                    Metric("psnr-yuv", "psnr-yuv", "PSNR-YUV 6:1:1 (dB)"),
                    Metric("ms-ssim", "ms-ssim-rgb", "MS-SSIM (RGB)", db=True))

    def eval_settings(self, card: dict, points: int = 0) -> list[float]:
        """The card's ``eval_qualities``, else qualities 0..5 (about 0.03-0.3 bpp on CIF/416x240 video)."""
        return [float(np.float32(q)) for q in card.get("eval_qualities", (0.0, 1.0, 2.0, 3.0, 4.0, 5.0))]

    def eval_inputs(self, folder: Path) -> list[Path]:
        folder = Path(folder)
        if any(p.suffix.lower() == ".png" for p in folder.iterdir()):
            return [folder]
        return sorted(p for p in folder.iterdir()
                      if (p.is_file() and p.suffix.lower() in (".y4m", ".mp4", ".mkv"))
                      or (p.is_dir() and any(q.suffix.lower() == ".png" for q in p.iterdir())))

    def eval_read(self, path: Path):
        return self.read(path).frames

    def eval_count(self, original) -> int:
        return int(np.prod(np.shape(original)[:3]))

    def eval_encode(self, codec, original, setting: float, device: str) -> Encoded:
        from ncodec.codecs.video import io

        return self.encode(codec, io.Clip(np.asarray(original), 25.0, "rgb24"), device, quality=setting)

    def eval_decode(self, codec, container, device: str):
        return self.decode(codec, container, device)[0].frames

    def eval_measure(self, original, decoded, x_hat=None) -> dict:
        from ncodec.codecs.video.metrics import summary

        if np.shape(original) != np.shape(decoded):
            raise RuntimeError(f"decoded shape {np.shape(decoded)} differs from the original's {np.shape(original)}")
        return summary(np.asarray(original), np.asarray(decoded))

    def eval_cell(self, record: dict) -> str:
        return f"{record[self.rate_key]:.4f}"

    def examples(self, folder: Path) -> list[Example]:
        """A 4-frame 64x48 y4m (4:2:0) of a textured pattern moving by a few pixels per frame."""
        from ncodec.codecs.video import io

        rng = np.random.default_rng(7)
        yy, xx = np.mgrid[0:48, 0:96]
        base = np.stack([(xx * 5) % 256, (yy * 7) % 256, (xx + 2 * yy) * 3 % 256], axis=2)
        base = np.clip(base + rng.integers(-6, 7, base.shape), 0, 255).astype(np.uint8)
        frames = np.stack([base[:, 3 * t: 3 * t + 64] for t in range(4)])
        path = Path(folder) / "clip.y4m"
        path.write_bytes(io.y4m_bytes(frames, 25.0, "yuv420p"))
        return [Example(path, {"intra_period": 2}, None, ".y4m")]

    # -- inputs and outputs ---------------------------------------------------------------------
    def recognises(self, path: Path) -> bool:
        path = Path(path)
        if path.suffix.lower() in self.suffixes:
            return True
        if path.is_dir():
            return any(p.suffix.lower() == ".png" for p in path.iterdir())
        return path.suffix == "" and not path.exists()  # an output name: a folder of PNG frames

    def read(self, path: Path, **options):
        from ncodec.codecs.video import io

        path = Path(path)
        if path.is_dir() and not any(p.suffix.lower() == ".png" for p in path.iterdir()):
            raise InputError(f"{path}: folder has no PNG frames")
        return io.read(path, options.get("size"), options.get("fps"), options.get("pix_fmt"))

    def check_writable(self, path: Path, description: dict, **options) -> None:
        path = Path(path)
        if path.suffix.lower() not in SUFFIXES and path.suffix != "":
            raise InputError(f"cannot write video as {path.suffix} (use .y4m .yuv .mp4 .mkv or a folder name)")
        parse_frames(options.get("frames"), description["frames"])

    def write(self, tmp: Path, sample, target: Path, **options) -> None:
        from ncodec.codecs.video import io

        io.write(tmp, target, sample.frames, sample.fps, sample.pix_fmt)

    # -- containers -----------------------------------------------------------------------------
    def encode(self, codec, sample, device: str, quality: float | None = None, intra_period: int | None = None,
               size=None, fps=None, pix_fmt=None) -> Encoded:
        from ncodec.codecs.video import io
        from ncodec.entropy.container import Container

        lo, hi = codec.quality_range
        if quality is None:
            quality = float(codec.card.get("default_quality", (lo + hi) / 2))
        if not (np.isfinite(quality) and lo <= quality <= hi):
            raise InputError(f"quality must be within {lo:g}..{hi:g} for {codec.codec_name}, got {quality}")
        quality = float(np.float32(quality))
        period = intra_period if intra_period is not None else codec.config["intra_period"]
        if not 1 <= period <= 0xFFFF:
            raise InputError(f"--intra-period must be within 1..65535, got {period}")
        frames = sample.frames
        t, h, w = frames.shape[:3]
        if t > MAX_FRAMES or h * w > MAX_PIXELS_PER_FRAME:
            raise InputError(f"video of {t} frames of {w}x{h} is over the limits ({MAX_FRAMES} frames, "
                             f"{MAX_PIXELS_PER_FRAME} pixels per frame)")
        if h < 8 or w < 8:
            raise InputError(f"video frames of {w}x{h} are too small (at least 8x8)")
        io.check_clip(t, w, h, "video")
        start = time.perf_counter()
        out = codec.compress(frames, quality=quality, intra_period=period)
        seconds = time.perf_counter() - start
        num, den = io._rational(sample.fps)
        payload = out["payload"] + _OWN.pack(num, den, _PIX.index(sample.pix_fmt))
        container = Container("video", codec.codec_name, codec.model_id, quality, payload, list(out["strings"]))
        x_hat = out["x_hat"]
        mse = np.array([np.mean((a.astype(np.float64) - b) ** 2) for a, b in zip(x_hat, frames)])  # (frame by frame: memory)
        psnr = 10 * np.log10(255.0**2 / np.maximum(mse, 1e-10))
        return Encoded(container, x_hat, {"quality": quality, "frames": t, "width": w, "height": h,
                                          "intra_period": period, "fps": sample.fps, "psnr": float(psnr.mean()),
                                          "frame_bytes": out["frame_bytes"], "frame_types": out["frame_types"],
                                          "encode_fps": t / seconds if seconds > 0 else 0.0,
                                          "source_pix_fmt": sample.pix_fmt})

    def describe(self, container) -> dict:
        from ncodec.codecs.video.layout import parse_index, unpack_payload

        p = container.payload
        if len(p) < _OWN.size:
            raise FormatError("video description has the wrong size")
        header = unpack_payload(p[: -_OWN.size])  # the codec's part, then the modality's
        h, w, t, period = header.height, header.width, header.frames, header.intra_period
        num, den, pix = _OWN.unpack(p[-_OWN.size:])
        if not (0 < h <= MAX_SIDE and 0 < w <= MAX_SIDE and h * w <= MAX_PIXELS_PER_FRAME):
            raise FormatError(f"video description is invalid (frame size {w}x{h})")
        if not (0 < t <= MAX_FRAMES) or period < 1 or num == 0 or den == 0 or pix >= len(_PIX):
            raise FormatError("video description is invalid (frames, intra period, fps or pixel format)")
        from ncodec.codecs.video.io import check_clip

        check_clip(t, w, h, "video description", FormatError)  # (what the encoder refuses)
        if len(container.sections) != 2:
            raise FormatError(f"expected 2 sections, found {len(container.sections)}")
        entries = parse_index(container.sections[0], t, header.version)
        types, sizes = [kind for kind, _, _ in entries], [n for _, n, _ in entries]
        return {"frames": t, "width": w, "height": h, "fps": num / den, "intra_period": period,
                "pixels": t * h * w, "coded": "RGB 4:4:4 8-bit", "source_pix_fmt": _PIX[pix],
                "frame_types": "".join("IP"[k] for k in types), "frame_bits": [8 * s for s in sizes]}

    def decode(self, codec, container, device: str, frames: str | None = None, **options):
        from ncodec.codecs.video import io

        d = self.describe(container)
        start, stop = parse_frames(frames, d["frames"])
        lo, hi = codec.quality_range
        if not lo <= container.quality <= hi:
            raise FormatError(f"quality {container.quality} outside the model's range {lo}..{hi}")
        try:
            x_hat = codec.decompress(container.sections, container.payload[: -_OWN.size],
                                     quality=container.quality, start=start, stop=stop)["x_hat"]
        except FormatError:
            raise
        except (ValueError, RuntimeError, OverflowError, IndexError) as e:
            raise FormatError(f"video stream cannot be decoded ({type(e).__name__})") from None
        return io.Clip(x_hat, d["fps"], d["source_pix_fmt"]), x_hat

    def summary(self, r: dict) -> str:
        n_i = r["frame_types"].count("I")
        return (f"{r['output']}: {r['bytes']} bytes, {r['bpp']:.4f} bpp, PSNR-RGB {r['psnr']:.2f} dB "
                f"({r['codec']} q={r['quality']:g}, {r['frames']} frames {r['width']}x{r['height']} @ {r['fps']:g} fps, "
                f"intra period {r['intra_period']} ({n_i} I / {r['frames'] - n_i} P), coded RGB 4:4:4 from "
                f"{r['source_pix_fmt']}, {r['seconds']:.1f} s = {r['encode_fps']:.2f} frames/s)")


register_modality(VideoModality)
