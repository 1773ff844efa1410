"""Train the ``lwc`` context model on CPU and ship it: ``python3 -m ncodec.train.lwc``.

1. Samples: for training photos at random qualities, the codec's own transform and quantiser, and
   for every (subsampled) detail coefficient the integer context features the coder sees, its
   quantised value and its unquantised magnitude in steps.
2. Fit the small MLP (torch, one thread) to minimise the code length of the values under the
   discretised Laplace mixture the tables implement (the real rate, up to the 1/3-octave table grid).
3. Freeze to fixed point, learn the reconstruction offsets per table (conditional mean of the
   magnitude inside the bin), measure held-out photos, and write ``checkpoints/lwc.pt`` + card.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ncodec.codecs.checkpoint import load_codec, save_checkpoint
from ncodec.codecs.image import cdf97
from ncodec.codecs.image.wavelet_ctx import RECON_ONE, WaveletContextCodec, quality_code
from ncodec.entropy import subband_context as ctx

SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff"}


def photo_paths(root: Path) -> tuple[list[Path], list[Path]]:
    """All photos under ``root`` (sorted); every 50th is held out for validation."""
    paths = sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in SUFFIXES)
    return [p for i, p in enumerate(paths) if i % 50 != 25], [p for i, p in enumerate(paths) if i % 50 == 25]


def load_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def samples(model: WaveletContextCodec, rgb: np.ndarray, quality: float, rng, keep_zero: float,
            keep: float, quantiser: WaveletContextCodec | None = None) -> dict[str, np.ndarray]:
    """Context features (encoder view: every value known) of a random subset of coefficients.
    Rows whose context and value are all zero are kept with ``keep_zero``, others with ``keep``;
    ``weight`` undoes the subsampling."""
    h, w = rgb.shape[:2]
    levels = cdf97.levels_for(h, w, model.config["max_levels"])
    ll, details = cdf97.forward(rgb, levels)
    # The values the shipped encoder would code: the RDO quantiser of ``quantiser`` (a previous
    # model), else plain dead-zone rounding.
    q = quantiser.analyse(rgb, quality)[2] if quantiser is not None else model.quantise((ll, details), quality)[1]
    step = model.steps(quality)[:, 0, 0]  # per colour channel
    mags = [[np.abs(b) for b in bands] for bands in q]
    code = quality_code(quality)
    out = {k: [] for k in ("x", "band", "value", "ratio", "weight")}
    for level, channel, orient in ctx.band_order(levels):
        band = mags[level][orient][channel]
        if band.size == 0:
            continue
        static = ctx.static_maps(mags, level, channel, orient)
        for pass_, mask in enumerate(ctx.pass_masks(band.shape, model.config["passes"])):
            x = ctx.features(static[mask], ctx.pass_maps(band, pass_, model.config["passes"])[mask])
            values = q[level][orient][channel][mask]
            busy = x.any(axis=1) | (values != 0)
            p = np.where(busy, keep, keep_zero)
            take = rng.random(len(values)) < p
            out["x"].append(x[take].astype(np.uint8))
            out["band"].append(np.tile(ctx.band_features(code, level, channel, orient, pass_).astype(np.int16), (take.sum(), 1)))
            out["value"].append(values[take].astype(np.int32))
            out["ratio"].append((np.abs(details[level][orient][channel][mask][take]) / step[channel]).astype(np.float32))
            out["weight"].append((1.0 / p[take]).astype(np.float32))
    return {k: np.concatenate(v) for k, v in out.items()}


class ContextNet(nn.Module):
    """The float twin of :class:`ncodec.entropy.subband_context.ExactMLP`."""

    def __init__(self, hidden: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(ctx.N_FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                    nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x / ctx.FEATURE_SCALE)[:, 0]

    def exported(self) -> dict[str, np.ndarray]:
        linear = [m for m in self.layers if isinstance(m, nn.Linear)]
        return ctx.export_mlp([(m.weight.detach().double().numpy().T, m.bias.detach().double().numpy())
                               for m in linear])


def rate_bits(values: torch.Tensor, log2_scale: torch.Tensor) -> torch.Tensor:
    """Bits of integer ``values`` under the tables' mixture at the continuous scale 2**log2_scale."""
    s = torch.exp2(log2_scale.clamp(ctx.LOG2_MIN, ctx.LOG2_MIN + (ctx.N_TABLES - 1) / ctx.PER_OCTAVE))

    def cdf(x, scale):
        return 0.5 + 0.5 * torch.sign(x) * (1 - torch.exp(-x.abs() / scale))

    def mix(x):
        return (1 - ctx.EPS) * cdf(x, s) + ctx.EPS * cdf(x, ctx.WIDE * s)

    p = mix(values + 0.5) - mix(values - 0.5)
    return -torch.log2(p.clamp_min(2.0**-40))


def fit(data: dict, hidden: int, steps: int, batch: int, lr: float, log) -> ContextNet:
    torch.manual_seed(0)
    net = ContextNet(hidden)
    with torch.no_grad():
        net.layers[-1].bias.fill_(-2.0)
    x = torch.from_numpy(np.concatenate([data["x"].astype(np.float32), data["band"].astype(np.float32)], 1))
    v = torch.from_numpy(data["value"].astype(np.float32))
    wt = torch.from_numpy(data["weight"])
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    gen = torch.Generator().manual_seed(0)
    running = None
    for step in range(steps):
        idx = torch.randint(0, len(v), (batch,), generator=gen)
        bits = (rate_bits(v[idx], net(x[idx])) * wt[idx]).sum() / wt[idx].sum()
        opt.zero_grad()
        bits.backward()
        opt.step()
        sched.step()
        running = bits.item() if running is None else 0.98 * running + 0.02 * bits.item()
        if step % 500 == 0 or step == steps - 1:
            log(f"step {step} bits/coef {running:.4f}")
    return net


def recon_offsets(model: WaveletContextCodec, data: dict) -> np.ndarray:
    """Per table and |q| = 1 / >= 2: mean of |q| - |x| / step (the conditional-mean offset)."""
    mlp, _, _ = model._load()
    tables = np.empty(len(data["value"]), dtype=np.int64)
    band = data["band"]
    keys, inverse = np.unique(band, axis=0, return_inverse=True)
    order = np.argsort(inverse.reshape(-1), kind="stable")
    bounds = np.searchsorted(inverse.reshape(-1)[order], np.arange(len(keys) + 1))
    for k, key in enumerate(keys):
        rows = order[bounds[k] : bounds[k + 1]]
        out = mlp(data["x"][rows].astype(np.int64), mlp.band_bias(key))
        tables[rows] = np.clip(ctx.scale_index(out), 0, ctx.N_TABLES - 1)
    mag = np.abs(data["value"]).astype(np.int64)
    offsets = np.zeros((ctx.N_TABLES, 2), dtype=np.int64)
    for kind in (0, 1):
        sel = (mag == 1) if kind == 0 else (mag >= 2)
        d = (mag[sel] - data["ratio"][sel]) * data["weight"][sel]
        t = tables[sel]
        num = np.bincount(t, weights=d, minlength=ctx.N_TABLES)
        den = np.bincount(t, weights=data["weight"][sel], minlength=ctx.N_TABLES)
        mean = np.where(den > 50, num / np.maximum(den, 1e-9), 0.0)
        offsets[:, kind] = np.round(np.clip(mean, -0.5, 0.5) * RECON_ONE)
    return offsets


def measure(model: WaveletContextCodec, paths: list[Path], qualities: list[float]) -> list[dict]:
    rows = []
    for q in qualities:
        bpp, psnr = [], []
        for path in paths:
            rgb = load_rgb(path)
            x = torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None]
            out = model.compress(x, q)
            bits = 8 * sum(len(s) for s in out["strings"])
            dec = np.round(out["x_hat"][0].permute(1, 2, 0).numpy() * 255)
            mse = np.mean((dec - rgb) ** 2)
            bpp.append(bits / rgb.shape[0] / rgb.shape[1])
            psnr.append(10 * np.log10(255**2 / mse))
        rows.append({"quality": q, "bpp": float(np.mean(bpp)), "psnr": float(np.mean(psnr))})
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/train"))
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--qualities-per-image", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--rounding", type=float, default=0.4)
    ap.add_argument("--passes", type=int, default=4)
    ap.add_argument("--quality-min", type=float, default=0.0, help="lowest quality (largest step) of the range")
    ap.add_argument("--rdo-lambda", type=float, default=0.0, help="requantise the samples (encoder RDO)")
    ap.add_argument("--rdo-passes", type=int, default=2, help="RDO sweeps of the encoder (and quantiser)")
    ap.add_argument("--keep", type=float, default=0.08)
    ap.add_argument("--keep-zero", type=float, default=0.01)
    ap.add_argument("--quantiser", default=None, help="a previous lwc checkpoint (.pt path) whose RDO "
                    "quantiser makes the training values")
    ap.add_argument("--name", default="lwc")
    ap.add_argument("--out", default=None, help="checkpoint folder (default: the shipped one)")
    ap.add_argument("--cache", default="/tmp/lwc_samples.npz")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    start = time.process_time()
    log = lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)  # noqa: E731

    model = WaveletContextCodec(hidden=args.hidden, rounding=args.rounding, passes=args.passes,
                                rdo_lambda=args.rdo_lambda, quality_min=args.quality_min)
    model.config["rdo_passes"] = args.rdo_passes
    train_paths, val_paths = photo_paths(Path(args.data))
    rng = np.random.default_rng(0)
    chosen = [train_paths[i] for i in sorted(rng.choice(len(train_paths), min(args.images, len(train_paths)),
                                                         replace=False))]
    quantiser = None
    if args.quantiser:
        quantiser = load_codec(Path(args.quantiser).stem, "image", folder=Path(args.quantiser).parent)
        quantiser.config["rdo_lambda"] = args.rdo_lambda
        quantiser.config["rdo_passes"] = args.rdo_passes
    lo, hi = model.quality_range
    key = f"{args.quality_min}-{args.images}-{args.qualities_per_image}-{args.rounding}-{args.keep}-{args.keep_zero}-{args.passes}-{args.quantiser}-{args.rdo_lambda}-{args.rdo_passes}"
    if args.cache and Path(args.cache).is_file() and str(np.load(args.cache)["key"]) == key:
        data = dict(np.load(args.cache))
        log(f"samples from {args.cache}")
    else:
        parts = []
        for i, path in enumerate(chosen):
            rgb = load_rgb(path)
            for _ in range(args.qualities_per_image):
                q = float(np.float32(rng.uniform(lo - 0.5, hi + 0.5)))
                parts.append(samples(model, rgb, q, rng, args.keep_zero, args.keep, quantiser))
            if i % 25 == 0:
                log(f"image {i}/{len(chosen)}: {sum(len(p['value']) for p in parts)} samples")
        data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        if args.cache:
            np.savez(args.cache, key=key, **data)
    log(f"{len(data['value'])} samples")

    net = fit(data, args.hidden, args.steps, args.batch, args.lr, log)
    for k, v in net.exported().items():
        getattr(model, k).copy_(torch.from_numpy(v))
    model._mlp = None
    model.recon.copy_(torch.from_numpy(recon_offsets(model, data)))
    model._mlp = None
    cpu_minutes = (time.process_time() - start) / 60
    log(f"trained in {cpu_minutes:.1f} CPU-minutes")

    qualities = list(np.linspace(lo, hi, 6))
    rd = measure(model, val_paths, qualities)
    for r in rd:
        log(f"validation q={r['quality']:.2f} bpp={r['bpp']:.4f} psnr={r['psnr']:.3f}")
    card = {
        "config": model.config,
        "quality_range": [lo, hi],
        "default_quality": 6.0,
        "summary": "CDF 9/7 wavelet (orthonormal colour, 5 levels) + learned exact fixed-point context model "
                   "(parent, siblings, colour, 4 polyphase passes) + per-image calibration + RDO quantisation "
                   "(2 sweeps); trained on 2 CPU cores in minutes",
        "training": {
            "data": f"{args.data} (every 50th photo held out for validation)",
            "images": len(chosen), "qualities_per_image": args.qualities_per_image,
            "samples": int(len(data["value"])), "steps": args.steps, "batch": args.batch, "lr": args.lr,
            "device": "cpu", "threads": 1, "cpu_minutes": round(cpu_minutes, 1),
            "loop": "python3 -m ncodec.train.lwc", "validation_images": len(val_paths),
            "validation_rd": rd,
        },
    }
    folder = Path(args.out) if args.out else None
    mid = save_checkpoint(model, card, args.name, **({"folder": folder} if folder else {}))
    log(f"saved {args.name} model {mid.hex()}")


if __name__ == "__main__":
    main()
